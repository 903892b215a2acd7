using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

public sealed class StoreQueryAndHousekeepingTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task ReattemptCounts_ForAPageOfWorkflows_AreOneGroupedQuery()
    {
        var flaky = await StartAsync("flaky");
        var calm = await StartAsync("calm");
        for (var i = 0; i < 2; i++)
        {
            var current = (await Store.GetCurrentExecutionAsync(flaky.Workflow.Id))!;
            var claim = await Store.ClaimAsync(current.Id, $"job-{i}", Lease);
            await Store.FinalizeAsync(current.Id, claim.Execution!.LeaseToken!, Reattempted("first", "flaky"));
        }

        var counts = await Store.CountReattemptsByWorkflowAsync([flaky.Workflow.Id, calm.Workflow.Id]);

        Assert.Multiple(async () =>
        {
            Assert.That(counts, Is.EquivalentTo(new Dictionary<long, long> { [flaky.Workflow.Id] = 2 }), "a workflow without reattempts is absent");
            Assert.That(await Store.CountReattemptsByWorkflowAsync([]), Is.Empty);
            Assert.That((await Store.GetFlappingAsync(3, 0, 10)).Select(w => w.Id), Is.EqualTo(new[] { flaky.Workflow.Id }),
                "its current step is on attempt 3; the calm one's on attempt 1");
            Assert.That(await Store.GetFlappingAsync(4, 0, 10), Is.Empty);
        });
    }

    [Test]
    public async Task History_IsInCreationOrder_AndCurrentIsTheActiveOne()
    {
        var (created, claim) = await StartAndClaimAsync();
        Clock.Advance(TimeSpan.FromSeconds(1));
        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"));

        var history = await Store.GetHistoryAsync(created.Workflow.Id);
        var current = await Store.GetCurrentExecutionAsync(created.Workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(history.Select(e => e.StepName), Is.EqualTo(new[] { "first", "second" }));
            Assert.That(current!.Id, Is.EqualTo(result.NextExecution!.Id));
        });
    }

    [Test]
    public async Task Page_FiltersByStateAndType_NewestFirst_WithTotals()
    {
        for (var i = 0; i < 5; i++)
        {
            await StartAsync($"r{i}");
        }

        var paused = await StartAsync("p");
        await Store.PauseAsync(paused.Workflow.Id);
        await Store.CreateAsync(Spec("b", type: "billing"));

        var ready = await Store.GetPageAsync(WorkflowState.Ready, "signup", offset: 1, limit: 2);
        var all = await Store.GetPageAsync(null, null, 0, 100);
        var billing = await Store.GetPageAsync(null, "billing", 0, 100);

        Assert.Multiple(() =>
        {
            Assert.That(ready.Total, Is.EqualTo(5));
            Assert.That(ready.Items.Select(w => w.HeroId), Is.EqualTo(new[] { "r3", "r2" }));
            Assert.That(all.Total, Is.EqualTo(7));
            Assert.That(all.Items[0].HeroId, Is.EqualTo("b"));
            Assert.That(billing.Items.Single().Type, Is.EqualTo("billing"));
        });
    }

    [Test]
    public async Task CountByState_ListsEveryState()
    {
        await StartAsync("a");
        await StartAsync("b", firstStep: null);
        var canceled = await StartAsync("c");
        await Store.CancelAsync(canceled.Workflow.Id);

        var counts = await Store.CountByStateAsync();

        Assert.That(counts, Is.EquivalentTo(new Dictionary<WorkflowState, long>
        {
            [WorkflowState.Ready] = 1, [WorkflowState.Performing] = 0, [WorkflowState.Paused] = 0,
            [WorkflowState.Finished] = 1, [WorkflowState.Canceled] = 1,
        }));
    }

    [Test]
    public async Task ByHero_ReturnsThatHerosWorkflowsOnly()
    {
        await StartAsync("1");
        await StartAsync("2");

        var workflows = await Store.GetByHeroAsync("User", "2");

        Assert.That(workflows.Select(w => w.HeroId), Is.EqualTo(new[] { "2" }));
    }

    [Test]
    public async Task DueScheduled_AndExpiredLeases_AreFoundByTime()
    {
        var due = await StartAsync("due");
        await StartAsync("later", wait: TimeSpan.FromHours(2));
        var (running, claim) = await StartAndClaimAsync("running");
        Clock.Advance(TimeSpan.FromMinutes(6));

        var dueList = await Store.GetDueScheduledAsync(Now, 10);
        var expired = await Store.GetExpiredLeasesAsync(10);

        Assert.Multiple(() =>
        {
            Assert.That(dueList.Select(e => e.Id), Is.EqualTo(new[] { due.FirstExecution!.Id }));
            Assert.That(expired.Select(e => e.Id), Is.EqualTo(new[] { claim.Execution!.Id }));
            Assert.That(running.Workflow.Id, Is.Not.Zero);
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task RecoverExpiredLease_ReattemptsOrCancels(bool reattempt)
    {
        var (created, claim) = await StartAndClaimAsync();
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        var recovered = await Store.RecoverExpiredLeaseAsync(claim.Execution!.Id, reattempt);

        var old = await ExecutionAsync(claim.Execution.Id);
        Assert.Multiple(() =>
        {
            Assert.That(old.StepOutcome, Is.EqualTo(StepOutcome.Recovered));
            Assert.That(recovered!.Workflow.WorkflowState, Is.EqualTo(reattempt ? WorkflowState.Ready : WorkflowState.Canceled));
            Assert.That(recovered.Execution?.StepName, Is.EqualTo(reattempt ? "first" : null));
            Assert.That(recovered.Execution?.ScheduledFor, Is.EqualTo(reattempt ? Now : (DateTime?)null));
        });
    }

    [Test]
    public async Task RecoverExpiredLease_LeavesALiveLeaseAlone()
    {
        var (_, claim) = await StartAndClaimAsync();
        Clock.Advance(TimeSpan.FromMinutes(1));

        Assert.That(await Store.RecoverExpiredLeaseAsync(claim.Execution!.Id, reattempt: true), Is.Null);
    }

    [Test]
    public async Task Cleanup_DeletesEndedWorkflowsInBatches_AndLeavesTheRest()
    {
        const int ended = 250;
        for (var i = 0; i < ended; i++)
        {
            var created = await StartAsync($"old{i}");
            if (i % 2 == 0)
            {
                await Store.CancelAsync(created.Workflow.Id);
            }
            else
            {
                await Store.SkipAsync(created.Workflow.Id, _ => null);
            }
        }

        var ongoing = await StartAsync("ongoing");
        Clock.Advance(TimeSpan.FromDays(31));
        var recent = await StartAsync("recent");
        await Store.CancelAsync(recent.Workflow.Id);
        var cutoff = Now - TimeSpan.FromDays(30);

        var batches = new List<CleanupBatch>();
        CleanupBatch batch;
        do
        {
            batch = await Store.DeleteEndedWorkflowsBatchAsync(cutoff, 100);
            batches.Add(batch);
        }
        while (batch.WorkflowsDeleted > 0);

        Assert.Multiple(async () =>
        {
            Assert.That(batches.Select(b => b.WorkflowsDeleted), Is.EqualTo(new[] { 100, 100, 50, 0 }));
            Assert.That(batches.Sum(b => b.StepExecutionsDeleted), Is.EqualTo(ended));
            Assert.That(await Store.GetWorkflowAsync(ongoing.Workflow.Id), Is.Not.Null);
            Assert.That(await Store.GetCurrentExecutionAsync(ongoing.Workflow.Id), Is.Not.Null);
            Assert.That(await Store.GetWorkflowAsync(recent.Workflow.Id), Is.Not.Null);
            Assert.That((await Store.GetPageAsync(null, null, 0, 10)).Total, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Cleanup_DeletesAWorkflowsEvents_InRowBoundedStatements()
    {
        var created = await StartAsync("chatty");
        const int events = 2 * WorkflowStore.CleanupChunk + 500;
        await using (var connection = Store.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await using var tx = await connection.BeginTransactionAsync();
            for (var i = 0; i < events; i++)
            {
                await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, Store.Dialect.Sql.InsertEvent.Text, StatementBinder.Bind(Store.Dialect, Store.Dialect.Sql.InsertEvent, new WorkflowEventRecord
                {
                    WorkflowId = created.Workflow.Id, Name = "ping", EventKey = $"k{i}", CreatedAt = Now,
                }), tx);
            }

            await tx.CommitAsync();
        }

        await Store.CancelAsync(created.Workflow.Id);
        Clock.Advance(TimeSpan.FromDays(31));
        var eventDeletes = 0;
        Store.Statements = (_, sql) =>
        {
            if (sql == Store.Dialect.Sql.DeleteEventsOfWorkflows.Text)
            {
                Interlocked.Increment(ref eventDeletes);
            }
        };

        var batch = await Store.DeleteEndedWorkflowsBatchAsync(Now - TimeSpan.FromDays(30), 100);
        Store.Statements = null;

        Assert.Multiple(async () =>
        {
            Assert.That(batch.WorkflowsDeleted, Is.EqualTo(1));
            Assert.That(eventDeletes, Is.EqualTo(3), $"{events} events, at most {WorkflowStore.CleanupChunk} a statement");
            Assert.That(await Db.CountRowsAsync("WorkflowEvents"), Is.Zero);
        });
    }

    [Test]
    public void Cleanup_RefusesABatchSizeOutOfRange()
    {
        var error = Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.DeleteEndedWorkflowsBatchAsync(Now, 0))!;

        Assert.That(error.Message, Does.Contain("between 1 and"));
    }
}
