using Dapper;
using GenevaDrive.Storage;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Hangfire;

/// <summary>Reconciliation and dashboard deletes on a real Hangfire server.</summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class CrashSafetyEndToEndTests(string database)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    private TestDatabase _db = null!;
    private HangfireTestServer _server = null!;
    private E2EProbe _probe = null!;
    private AccountDirectory _accounts = null!;

    [SetUp]
    public void StartServer()
    {
        _db = TestDatabase.Create(database);
        _probe = new E2EProbe();
        _accounts = new AccountDirectory();
        _server = HangfireTestServer.Start(database, _db,
            options =>
            {
                options.AddWorkflow<E2EOnboardingWorkflow>().AddWorkflow<E2EPaymentWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
                options.DispatchGracePeriod = TimeSpan.Zero;
            },
            services => services.AddSingleton(_probe).AddSingleton(_accounts).AddLogging());
    }

    [TearDown]
    public async Task StopServer()
    {
        await _server.DisposeAsync();
        await _db.DisposeAsync();
    }

    private Task WaitForStateAsync(long workflowId, WorkflowState state) =>
        HangfireTestServer.WaitUntilAsync(async () => (await _server.Client.GetAsync(workflowId))?.State == state, Timeout,
            $"workflow {workflowId} to be {state}");

    [Test]
    public async Task CommitThenCrashBeforeTheJobExists_TheReconcilerCreatesItAndTheWorkflowCompletes()
    {
        _accounts.Add("orphan");
        var created = await _server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_payment", "GenevaDrive.Tests.Execution.Account", "orphan", false, "charge", null));

        var report = await _server.Runtime.Maintenance.ReconcileAsync();
        await WaitForStateAsync(created.Workflow.Id, WorkflowState.Finished);

        Assert.Multiple(() =>
        {
            Assert.That(report.JobsCreated, Is.EqualTo(1));
            Assert.That(_probe.Events, Is.EqualTo(new[] { "charge", "receipt" }));
        });
    }

    [Test]
    public async Task JobDeletedBehindOurBack_IsReconciled()
    {
        _accounts.Add("lost");
        var created = await _server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_onboarding", "GenevaDrive.Tests.Execution.Account", "lost", false, "welcome", TimeSpan.FromSeconds(1)));
        // A job for the step, then the job vanishes: moved to a final state by a client without GenevaDrive's filter.
        var jobId = await _server.Runtime.Dispatcher.DispatchAsync(created.Workflow, created.FirstExecution!);
        new BackgroundJobClient(_server.Storage).ChangeState(jobId!, new DeletedState(), null);
        await Task.Delay(1500);

        var stillReady = (await _server.Client.GetAsync(created.Workflow.Id))!.State;
        var report = await _server.Runtime.Maintenance.ReconcileAsync();
        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            await _server.Runtime.Maintenance.ReconcileAsync();
            return (await _server.Client.GetAsync(created.Workflow.Id))!.State == WorkflowState.Finished;
        }, Timeout, "the workflow to finish");

        Assert.Multiple(() =>
        {
            Assert.That(stillReady, Is.EqualTo(WorkflowState.Ready), "nothing ran while the job was gone");
            Assert.That(report.JobsCreated, Is.EqualTo(1));
            Assert.That(_probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
        });
    }

    [Test]
    public async Task JobRowRemovedFromHangfireStorage_IsReconciled()
    {
        if (database != "postgresql")
        {
            Assert.Ignore("Removing a job row by SQL is exercised on Hangfire.PostgreSql; the SQLite storage's tables are private to sqlite-net.");
        }

        _accounts.Add("expired");
        var created = await _server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_payment", "GenevaDrive.Tests.Execution.Account", "expired", false, "charge", TimeSpan.FromMinutes(10)));
        var jobId = await _server.Runtime.Dispatcher.DispatchAsync(created.Workflow, created.FirstExecution!);
        var hangfireSchema = _server.HangfireSchema;
        await using (var connection = new Npgsql.NpgsqlConnection(Environment.GetEnvironmentVariable(TestDatabase.PostgresVariable)))
        {
            await connection.OpenAsync();
            await connection.ExecuteAsync($"DELETE FROM \"{hangfireSchema}\".job WHERE id = @id", new { id = long.Parse(jobId!, System.Globalization.CultureInfo.InvariantCulture) });
        }

        // Make the step due: the row says so; Hangfire no longer knows the job.
        var execution = (await _server.Runtime.Store.GetStepExecutionAsync(created.FirstExecution!.Id))!;
        execution.ScheduledFor = DateTime.UtcNow.AddSeconds(-1);
        await using (var connection = _db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await connection.ExecuteAsync(_db.Dialect.Sql.UpdateStepExecution, execution);
        }

        var report = await _server.Runtime.Maintenance.ReconcileAsync();
        await WaitForStateAsync(created.Workflow.Id, WorkflowState.Finished);

        Assert.That(report.JobsCreated, Is.EqualTo(1));
    }

    [Test]
    public async Task DeletingAScheduledStepJob_PausesTheWorkflow_AndResumeRunsTheStep()
    {
        var workflow = await _server.Client.StartAsync<E2EOnboardingWorkflow>(_accounts.Add("deleter"));
        await HangfireTestServer.WaitUntilAsync(async () => (await _server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await _server.Client.GetCurrentExecutionAsync(workflow.Id))!;

        _server.JobClient.Delete(nudge.JobId!);
        var paused = await _server.Client.GetAsync(workflow.Id);
        await _server.Client.ResumeAsync(workflow.Id);
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        Assert.Multiple(async () =>
        {
            Assert.That(paused!.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.NextStepName, Is.EqualTo("nudge"));
            Assert.That(_probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
            Assert.That((await _server.Client.GetHistoryAsync(workflow.Id)).Count(e => e.StepName == "nudge"), Is.EqualTo(1), "the same execution ran after resume");
        });
    }

    [Test]
    public async Task PausingFromCode_RemovesThePendingJob_WithoutTriggeringTheDeleteRule()
    {
        var workflow = await _server.Client.StartAsync<E2EOnboardingWorkflow>(_accounts.Add("pauser"));
        await HangfireTestServer.WaitUntilAsync(async () => (await _server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await _server.Client.GetCurrentExecutionAsync(workflow.Id))!;

        await _server.Client.PauseAsync(workflow.Id);
        var (jobState, data) = _server.JobState(nudge.JobId!);
        await _server.Client.CancelAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(jobState, Is.EqualTo(DeletedState.StateName));
            Assert.That(data, Is.Not.Null);
        });
    }

    [Test]
    public void RecurringJobs_AreRegisteredWithTheirSchedules()
    {
        using var connection = _server.Storage.GetConnection();
        var jobs = global::Hangfire.Storage.StorageConnectionExtensions.GetRecurringJobs(connection).ToDictionary(j => j.Id);

        Assert.Multiple(() =>
        {
            Assert.That(jobs[GenevaDriveRuntime.ReconcileJobId].Cron, Is.EqualTo("* * * * *"));
            Assert.That(jobs[GenevaDriveRuntime.CleanupJobId].Cron, Is.EqualTo("0 * * * *"));
        });
    }

    [Test]
    public async Task MaintenanceJobs_RunOnTheServer_AndReportCounts()
    {
        var reconcileJob = _server.JobClient.Create(global::Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.ReconcileAsync(null)), new EnqueuedState());
        var cleanupJob = _server.JobClient.Create(global::Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.CleanupAsync(null)), new EnqueuedState());

        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(_server.JobState(reconcileJob).Name == SucceededState.StateName
            && _server.JobState(cleanupJob).Name == SucceededState.StateName), Timeout, "the maintenance jobs to succeed");

        Assert.Multiple(() =>
        {
            Assert.That(_server.JobState(reconcileJob).Data!["Result"], Does.Contain("step job(s) re-created"));
            Assert.That(_server.JobState(cleanupJob).Data!["Result"], Does.Contain("deleted in"));
        });
    }
}
