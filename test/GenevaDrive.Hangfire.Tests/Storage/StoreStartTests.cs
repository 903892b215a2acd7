using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

public sealed class StoreStartTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task Create_WritesAReadyWorkflowAndItsFirstScheduledExecution()
    {
        var created = await StartAsync(wait: TimeSpan.FromMinutes(10));

        var workflow = await WorkflowAsync(created.Workflow.Id);
        var execution = await ExecutionAsync(created.FirstExecution!.Id);
        Assert.Multiple(() =>
        {
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
            Assert.That(workflow.Type, Is.EqualTo("signup"));
            Assert.That((workflow.HeroType, workflow.HeroId), Is.EqualTo(("User", "1")));
            Assert.That(workflow.CurrentStepName, Is.Null);
            Assert.That(workflow.NextStepName, Is.EqualTo("first"));
            Assert.That(workflow.CreatedAt, Is.EqualTo(Now));
            Assert.That(workflow.CreatedAt.Kind, Is.EqualTo(DateTimeKind.Utc));
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.Scheduled));
            Assert.That(execution.WorkflowId, Is.EqualTo(workflow.Id));
            Assert.That(execution.StepName, Is.EqualTo("first"));
            Assert.That(execution.ScheduledFor, Is.EqualTo(Now.AddMinutes(10)));
            Assert.That(execution.ScheduledFor.Kind, Is.EqualTo(DateTimeKind.Utc));
        });
    }

    [Test]
    public async Task Create_WithoutSteps_FinishesAtOnce()
    {
        var created = await StartAsync(firstStep: null);

        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(created.FirstExecution, Is.Null);
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That(workflow.TransitionedAt, Is.EqualTo(Now));
            Assert.That(await Store.GetHistoryAsync(workflow.Id), Is.Empty);
        });
    }

    [Test]
    public async Task SecondOngoingWorkflowForTheSameHero_IsRefusedWithTheExistingId()
    {
        var first = await StartAsync();

        var error = Assert.ThrowsAsync<WorkflowAlreadyExistsException>(() => StartAsync())!;

        Assert.Multiple(async () =>
        {
            Assert.That(error.ExistingWorkflowId, Is.EqualTo(first.Workflow.Id));
            Assert.That(error.Message, Does.Contain("'signup' workflow already exists for User '1'").And.Contain("StartOrGetExistingAsync"));
            Assert.That(await Store.GetByHeroAsync("User", "1"), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task OtherHeroesAndOtherTypes_AreIndependent()
    {
        await StartAsync("1");
        await StartAsync("2");
        await Store.CreateAsync(Spec("1", type: "billing"));

        Assert.That((await Store.GetPageAsync(null, null, 0, 10)).Total, Is.EqualTo(3));
    }

    [Test]
    public async Task AllowMultiple_PermitsConcurrentWorkflowsForOneHero()
    {
        await Store.CreateAsync(Spec(allowMultiple: true));
        await Store.CreateAsync(Spec(allowMultiple: true));

        Assert.That(await Store.GetByHeroAsync("User", "1"), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task AfterTheFirstEnds_ANewOneMayStart()
    {
        var first = await StartAsync();
        await Store.CancelAsync(first.Workflow.Id);

        var second = await StartAsync();

        Assert.That(second.Workflow.Id, Is.Not.EqualTo(first.Workflow.Id));
    }

    [Test]
    public async Task PausedWorkflow_StillCountsAsOngoing()
    {
        var first = await StartAsync();
        await Store.PauseAsync(first.Workflow.Id);

        Assert.ThrowsAsync<WorkflowAlreadyExistsException>(() => StartAsync());
    }

    [Test]
    public async Task CallersTransaction_CommitsTheWorkflowWithTheCallersData()
    {
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await Store.CreateAsync(Spec("rolled-back"), connection, tx);
            await tx.RollbackAsync();
        }

        long committedId;
        await using (var tx = await connection.BeginTransactionAsync())
        {
            committedId = (await Store.CreateAsync(Spec("committed"), connection, tx)).Workflow.Id;
            await tx.CommitAsync();
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await Store.GetByHeroAsync("User", "rolled-back"), Is.Empty);
            Assert.That((await Store.GetByHeroAsync("User", "committed")).Single().Id, Is.EqualTo(committedId));
            Assert.That(await Store.GetCurrentExecutionAsync(committedId), Is.Not.Null);
        });
    }

    [Test]
    public async Task ConflictInsideTheCallersTransaction_LeavesItUsable()
    {
        var existing = await StartAsync("busy");
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await Store.CreateAsync(Spec("fresh"), connection, tx);

        var error = Assert.ThrowsAsync<WorkflowAlreadyExistsException>(() => Store.CreateAsync(Spec("busy"), connection, tx))!;
        await Store.CreateAsync(Spec("after-conflict"), connection, tx);
        await tx.CommitAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(error.ExistingWorkflowId, Is.EqualTo(existing.Workflow.Id));
            Assert.That(await Store.GetByHeroAsync("User", "fresh"), Has.Count.EqualTo(1));
            Assert.That(await Store.GetByHeroAsync("User", "after-conflict"), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task ConflictInACallersTransactionThatSqlServerAborts_SaysTheTransactionIsGone()
    {
        if (!Database.StartsWith("sqlserver", StringComparison.Ordinal))
        {
            Assert.Ignore("SET XACT_ABORT is SQL Server's; PostgreSQL and SQLite keep the transaction and roll back to the savepoint (see the test above).");
        }

        await StartAsync("busy");
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await using (var set = connection.CreateCommand())
        {
            set.CommandText = "SET XACT_ABORT ON;";
            await set.ExecuteNonQueryAsync();
        }

        await using var tx = await connection.BeginTransactionAsync();
        await Store.CreateAsync(Spec("callers-own-work"), connection, tx);

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => Store.CreateAsync(Spec("busy"), connection, tx))!;

        Assert.Multiple(async () =>
        {
            Assert.That(error.Message, Does.Contain("aborted the caller's transaction").And.Contain("XACT_ABORT"));
            Assert.That(error.InnerException, Is.InstanceOf<WorkflowAlreadyExistsException>());
            Assert.That(await Store.GetByHeroAsync("User", "callers-own-work"), Is.Empty, "the caller's work went with the transaction");
        });
    }

    [Test]
    public async Task CallersConnectionWithoutTransaction_StillCreatesAtomically()
    {
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();

        var created = await Store.CreateAsync(Spec("no-tx"), connection, null);

        Assert.That((await Store.GetCurrentExecutionAsync(created.Workflow.Id))!.Id, Is.EqualTo(created.FirstExecution!.Id));
    }

    [Test]
    public async Task SecondActiveExecution_IsRefusedByTheDatabase()
    {
        var created = await StartAsync();
        var duplicate = new StepExecutionRecord
        {
            WorkflowId = created.Workflow.Id, StepName = "first", State = "scheduled", ScheduledFor = Now, CreatedAt = Now, UpdatedAt = Now,
        };
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();

        var error = Assert.CatchAsync<Exception>(() => Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, Db.Dialect.Sql.InsertStepExecution.Text, duplicate))!;

        Assert.That(Db.Dialect.IsUniqueViolation(error), Is.True, error.ToString());
    }

    [Test]
    public async Task SetJobId_RecordsTheJobOfAScheduledExecutionOnly()
    {
        var created = await StartAsync();

        var recorded = await Store.SetJobIdAsync(created.FirstExecution!.Id, "42");
        await Store.ClaimAsync(created.FirstExecution.Id, "43", Lease);
        var afterClaim = await Store.SetJobIdAsync(created.FirstExecution.Id, "44");

        Assert.Multiple(async () =>
        {
            Assert.That(recorded, Is.True);
            Assert.That(afterClaim, Is.False);
            Assert.That((await ExecutionAsync(created.FirstExecution.Id)).JobId, Is.EqualTo("43"));
        });
    }
}
