using Dapper;
using GenevaDrive.Storage;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Server;

/// <summary>Reconciliation and dashboard deletes on a real Hangfire server.</summary>
public sealed class CrashSafetyEndToEndTests(string database) : HangfireServerFixture(database)
{
    protected override void Configure(GenevaDriveOptions options) => options.DispatchGracePeriod = TimeSpan.Zero;

    [Test]
    public async Task CommitThenCrashBeforeTheJobExists_TheReconcilerCreatesItAndTheWorkflowCompletes()
    {
        Accounts.Add("orphan");
        var created = await Server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_payment", "GenevaDrive.Tests.Execution.Account", "orphan", false, "charge", null));

        var report = await Server.Runtime.Maintenance.ReconcileAsync();
        await WaitForStateAsync(created.Workflow.Id, WorkflowState.Finished);

        Assert.Multiple(() =>
        {
            Assert.That(report.JobsCreated, Is.EqualTo(1));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "charge", "receipt" }));
        });
    }

    [Test]
    public async Task JobIdsNeverWritten_TheClaimsRecordTheJobsThatRan_AndNoStepRunsTwice()
    {
        // Every write of a new job's id fails for good (a process that dies before its batch is written, or a database that
        // refuses it): the jobs exist, run, and their claims record them.
        var refused = 0;
        Server.Runtime.Store.Statements = (_, text) =>
        {
            if (text.Contains("\"DispatchedAt\" = @Now", StringComparison.Ordinal) && text.Contains("\"JobId\" = @JobId", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref refused);
                throw new InvalidOperationException("job id write refused (injected)");
            }
        };
        Accounts.Add("unrecorded");
        var created = await Server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_payment", "GenevaDrive.Tests.Execution.Account", "unrecorded", false, "charge", null));
        await Server.Runtime.Dispatcher.DispatchAsync(created.Workflow, created.FirstExecution!);

        await WaitForStateAsync(created.Workflow.Id, WorkflowState.Finished);
        // The read first writes what this process still holds (refused too), then reads what the claims wrote.
        var history = await Server.Runtime.Store.GetHistoryAsync(created.Workflow.Id);
        Server.Runtime.Store.Statements = null;
        Assert.Multiple(() =>
        {
            Assert.That(refused, Is.GreaterThanOrEqualTo(1), "the job ids' writes were refused (on PostgreSQL both ids may share one batch)");
            Assert.That(history.Select(e => e.JobId), Has.All.Not.Null, "each step's claim wrote the job that ran it");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "charge", "receipt" }), "each step once");
        });
    }

    [Test]
    public async Task JobDeletedBehindOurBack_IsReconciled()
    {
        Accounts.Add("lost");
        var created = await Server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_onboarding", "GenevaDrive.Tests.Execution.Account", "lost", false, "welcome", TimeSpan.FromSeconds(1)));
        // A job for the step, then the job vanishes: moved to a final state by a client without GenevaDrive's filter.
        var jobId = await Server.Runtime.Dispatcher.DispatchAsync(created.Workflow, created.FirstExecution!);
        new BackgroundJobClient(Server.Storage).ChangeState(jobId!, new DeletedState(), null);
        await Task.Delay(1500);

        var stillReady = (await Server.Client.GetAsync(created.Workflow.Id))!.State;
        var report = await Server.Runtime.Maintenance.ReconcileAsync();
        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            await Server.Runtime.Maintenance.ReconcileAsync();
            return (await Server.Client.GetAsync(created.Workflow.Id))!.State == WorkflowState.Finished;
        }, Timeout, "the workflow to finish");

        var execution = (await Server.Runtime.Store.GetStepExecutionAsync(created.FirstExecution!.Id))!;
        Assert.Multiple(() =>
        {
            Assert.That(stillReady, Is.EqualTo(WorkflowState.Ready), "nothing ran while the job was gone");
            // The server's own recurring reconcile may get there first (it runs every minute); either way, once.
            Assert.That(report.JobsCreated, Is.LessThanOrEqualTo(1));
            Assert.That(execution.JobId, Is.Not.EqualTo(jobId), "the step ran in a re-created job");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
        });
    }

    [Test]
    public async Task JobRowRemovedFromHangfireStorage_IsReconciled()
    {
        if (Database != "postgresql")
        {
            Assert.Ignore("Removing a job row by SQL is exercised on Hangfire.PostgreSql; the SQLite storage's tables are private to sqlite-net.");
        }

        Accounts.Add("expired");
        var created = await Server.Runtime.Store.CreateAsync(
            new NewWorkflow("e2e_payment", "GenevaDrive.Tests.Execution.Account", "expired", false, "charge", TimeSpan.FromMinutes(10)));
        var jobId = await Server.Runtime.Dispatcher.DispatchAsync(created.Workflow, created.FirstExecution!);
        var hangfireSchema = Server.HangfireSchema;
        await using (var connection = new Npgsql.NpgsqlConnection(Environment.GetEnvironmentVariable(TestDatabase.PostgresVariable)))
        {
            await connection.OpenAsync();
            await connection.ExecuteAsync($"DELETE FROM \"{hangfireSchema}\".job WHERE id = @id", new { id = long.Parse(jobId!, System.Globalization.CultureInfo.InvariantCulture) });
        }

        // Make the step due: the row says so; Hangfire no longer knows the job.
        var execution = (await Server.Runtime.Store.GetStepExecutionAsync(created.FirstExecution!.Id))!;
        execution.ScheduledFor = DateTime.UtcNow.AddSeconds(-1);
        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await connection.ExecuteAsync(Db.Dialect.Sql.UpdateStepExecution.Text, execution);
        }

        var report = await Server.Runtime.Maintenance.ReconcileAsync();
        await WaitForStateAsync(created.Workflow.Id, WorkflowState.Finished);

        Assert.That(report.JobsCreated, Is.EqualTo(1));
    }

    [Test]
    public async Task DeletingAScheduledStepJob_PausesTheWorkflow_AndResumeRunsTheStep()
    {
        var workflow = await Server.Client.StartAsync<E2EOnboardingWorkflow>(Accounts.Add("deleter"));
        await HangfireTestServer.WaitUntilAsync(async () => (await Server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await Server.Client.GetCurrentExecutionAsync(workflow.Id))!;

        Server.JobClient.Delete(nudge.JobId!);
        var paused = await Server.Client.GetAsync(workflow.Id);
        await Server.Client.ResumeAsync(workflow.Id);
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        Assert.Multiple(async () =>
        {
            Assert.That(paused!.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.NextStepName, Is.EqualTo("nudge"));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
            Assert.That((await Server.Client.GetHistoryAsync(workflow.Id)).Count(e => e.StepName == "nudge"), Is.EqualTo(1), "the same execution ran after resume");
        });
    }

    [Test]
    public async Task RequeueingTheDeletedJobThatPausedTheWorkflow_RunsTheStepInIt_WhileOtherJobsRunNothing()
    {
        var workflow = await Server.Client.StartAsync<E2EOnboardingWorkflow>(Accounts.Add("requeuer"));
        await HangfireTestServer.WaitUntilAsync(async () => (await Server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await Server.Client.GetCurrentExecutionAsync(workflow.Id))!;
        Server.JobClient.Delete(nudge.JobId!);
        var paused = (await Server.Client.GetAsync(workflow.Id))!;

        // A stale duplicate for the same execution (another job id) must not undo the pause.
        var stale = Server.JobClient.Create(
            global::Hangfire.Common.Job.FromExpression<WorkflowStepJob>(j => j.RunAsync(nudge.Id, "e2e_onboarding", workflow.Id, "nudge", null, CancellationToken.None)),
            new global::Hangfire.States.EnqueuedState());
        await WaitForJobStateAsync(stale, "Succeeded");
        var afterStale = (await Server.Client.GetAsync(workflow.Id))!;

        // The operator requeues the deleted job: "run it now".
        Server.JobClient.Requeue(nudge.JobId!);
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        Assert.Multiple(async () =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.StateReason, Does.Contain($"Step job {nudge.JobId} of step 'nudge' was deleted"));
            Assert.That(afterStale.State, Is.EqualTo(WorkflowState.Paused), "the stale job ran nothing");
            Assert.That(Server.JobState(stale).Data!["Result"], Does.Contain($"paused by job {nudge.JobId}, not this one"));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }), "the step ran once, in the requeued job");
            Assert.That((await Server.Client.GetHistoryAsync(workflow.Id)).Single(e => e.StepName == "nudge").JobId, Is.EqualTo(nudge.JobId));
        });
    }

    [Test]
    public async Task AStepJobOfThePreviousForm_StillRunsItsStep_AfterAnUpgrade_WhileNewJobsTakeTheShortForm()
    {
        // Versions before RunStepAsync created RunAsync jobs with four arguments; one of those, scheduled before an upgrade,
        // must run its step on the new version. The new form's job for the step is removed the way GenevaDrive removes
        // its own jobs (no pause), so only the old job can run it.
        var workflow = await Server.Client.StartAsync<E2EOnboardingWorkflow>(Accounts.Add("upgrader"));
        await HangfireTestServer.WaitUntilAsync(async () => (await Server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await Server.Client.GetCurrentExecutionAsync(workflow.Id))!;
        Server.JobClient.ChangeState(nudge.JobId!, new DeletedState { Reason = global::GenevaDrive.Server.HangfireStepJobDispatcher.DeletionReasonPrefix + "replaced (test)" });
        var previous = Server.JobClient.Create(
            global::Hangfire.Common.Job.FromExpression<WorkflowStepJob>(j => j.RunAsync(nudge.Id, "e2e_onboarding", workflow.Id, "nudge", null, CancellationToken.None)),
            new ScheduledState(TimeSpan.FromSeconds(1)));

        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        var history = await Server.Client.GetHistoryAsync(workflow.Id);
        using var connection = Server.Storage.GetConnection();
        var welcomeJob = connection.GetJobData(history.Single(e => e.StepName == "welcome").JobId!)!.Job;
        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
            Assert.That(history.Single(e => e.StepName == "nudge").JobId, Is.EqualTo(previous), "the job of the previous form ran the step");
            Assert.That(Server.JobState(previous).Name, Is.EqualTo(SucceededState.StateName));
            Assert.That(welcomeJob.Method.Name, Is.EqualTo(nameof(WorkflowStepJob.RunStepAsync)));
            Assert.That(welcomeJob.Args[1], Is.EqualTo($"e2e_onboarding #{workflow.Id} › welcome"), "the label the dashboard shows");
        });
    }

    [Test]
    public async Task PausingFromCode_RemovesThePendingJob_WithoutTriggeringTheDeleteRule()
    {
        var workflow = await Server.Client.StartAsync<E2EOnboardingWorkflow>(Accounts.Add("pauser"));
        await HangfireTestServer.WaitUntilAsync(async () => (await Server.Client.GetCurrentExecutionAsync(workflow.Id)) is { StepName: "nudge", JobId: not null },
            Timeout, "the nudge step's job to be created");
        var nudge = (await Server.Client.GetCurrentExecutionAsync(workflow.Id))!;

        await Server.Client.PauseAsync(workflow.Id);
        var (jobState, data) = Server.JobState(nudge.JobId!);
        await Server.Client.CancelAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(jobState, Is.EqualTo(DeletedState.StateName));
            Assert.That(data, Is.Not.Null);
        });
    }

    [Test]
    public void RecurringJobs_AreRegisteredWithTheirSchedules()
    {
        using var connection = Server.Storage.GetConnection();
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
        var reconcileJob = Server.JobClient.Create(global::Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.ReconcileAsync(null)), new EnqueuedState());
        var cleanupJob = Server.JobClient.Create(global::Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.CleanupAsync(null)), new EnqueuedState());

        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Server.JobState(reconcileJob).Name == SucceededState.StateName
            && Server.JobState(cleanupJob).Name == SucceededState.StateName), Timeout, "the maintenance jobs to succeed");

        Assert.Multiple(() =>
        {
            Assert.That(Server.JobState(reconcileJob).Data!["Result"], Does.Contain("step job(s) re-created"));
            Assert.That(Server.JobState(cleanupJob).Data!["Result"], Does.Contain("deleted in"));
        });
    }
}
