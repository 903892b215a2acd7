using GenevaDrive.Execution;
using GenevaDrive.Server;
using GenevaDrive.Storage;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Execution;

/// <summary>Reconcile and cleanup against each real database, with Hangfire's side mocked.</summary>
public sealed class MaintenanceTests(string database) : StorageTestBase(database)
{
    private Mock<IStepJobDispatcher> _dispatcher = null!;
    private GenevaDriveOptions _options = null!;
    private WorkflowMaintenance _maintenance = null!;
    private Dictionary<string, string?> _jobStates = null!;
    private HashSet<string> _onDeadServer = null!;
    private List<long> _dispatched = null!;
    private List<string> _moved = null!;

    [SetUp]
    public void CreateMaintenance()
    {
        _jobStates = [];
        _onDeadServer = [];
        _dispatched = [];
        _moved = [];
        _dispatcher = new Mock<IStepJobDispatcher>();
        _dispatcher.Setup(d => d.GetJobStatus(It.IsAny<string>())).Returns((string id) =>
            _jobStates.GetValueOrDefault(id) is { } state ? new StepJobStatus(state, _onDeadServer.Contains(id)) : null);
        // Like the real dispatcher: the new job is Enqueued and recorded on the execution (which stamps DispatchedAt).
        _dispatcher.Setup(d => d.DispatchAsync(It.IsAny<WorkflowRecord>(), It.IsAny<StepExecutionRecord>(), It.IsAny<CancellationToken>()))
            .Returns(async (WorkflowRecord _, StepExecutionRecord e, CancellationToken _) =>
            {
                _dispatched.Add(e.Id);
                var jobId = $"job-{e.Id}-{_dispatched.Count}";
                _jobStates[jobId] = "Enqueued";
                await Store.SetJobIdAsync(e.Id, jobId);
                return (string?)jobId;
            });
        _dispatcher.Setup(d => d.MoveToQueue(It.IsAny<WorkflowRecord>(), It.IsAny<string>()))
            .Returns((WorkflowRecord _, string jobId) =>
            {
                _moved.Add(jobId);
                _jobStates[jobId] = "Enqueued";
                return true;
            });
        _options = new GenevaDriveOptions { TimeProvider = Clock, HousekeepingBatchSize = 1000 };
        _maintenance = new WorkflowMaintenance(Store, _dispatcher.Object, _options, NullLogger.Instance);
    }

    /// <summary>
    /// A lost job behind a backlog: 549 due steps whose jobs wait healthily in their queue, then one whose job is gone,
    /// then 50 more. The reconciler reads past the oldest page, so the lost one gets a new job in the first run.
    /// </summary>
    [Test]
    public async Task LostJobBehindABacklogOfHealthyOnes_GetsANewJobInTheFirstRun()
    {
        StepExecutionRecord? lost = null;
        for (var i = 0; i < 600; i++)
        {
            var execution = await ScheduledWithJobAsync($"backlog-{i}", $"healthy-{i}", "Enqueued");
            if (i == 549)
            {
                _jobStates.Remove($"healthy-{i}"); // its job vanished from Hangfire's storage
                lost = execution;
            }
        }

        var report = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(report.JobsCreated, Is.EqualTo(1), report.ToString());
            Assert.That(_dispatched, Is.EqualTo(new[] { lost!.Id }), "only the lost one, found at position 550 of the backlog");
        });
    }

    /// <summary>
    /// The same at scale: 10,000 due steps whose jobs wait healthily, and one lost job near the back. Each run reads the
    /// head and three keyset pages after where the previous one stopped, so the lost job is reached within a few runs
    /// (a head-only reconciler never reaches it while the backlog stands). Prints what each run cost.
    /// </summary>
    [Test]
    public async Task LostJobBehindABacklogOfTenThousand_IsFoundWithinAFewRuns()
    {
        const int backlog = 10_000;
        const int lostAt = 9_950;
        var lost = await SeedHealthyBacklogAsync(backlog, lostAt);

        var runs = new List<(TimeSpan Took, int JobsCreated)>();
        while (runs.Count < 10 && !_dispatched.Contains(lost))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var report = await _maintenance.ReconcileAsync();
            runs.Add((clock.Elapsed, report.JobsCreated));
        }

        TestContext.Out.WriteLine($"{Database}: backlog of {backlog:N0} due steps, lost job at {lostAt + 1:N0}: found in run {runs.Count}; " +
                                  string.Join(", ", runs.Select((r, i) => $"run {i + 1} {r.Took.TotalMilliseconds:0} ms")));
        Assert.Multiple(() =>
        {
            Assert.That(_dispatched, Is.EqualTo(new[] { lost }), "only the lost one gets a job");
            // Each run reads the head (500) and three pages (1,500) after where the previous run stopped: position 9,951 in run 7.
            Assert.That(runs, Has.Count.LessThanOrEqualTo(7), "the sweep moves 1,500 due steps further every run");
        });
    }

    /// <summary>Ready workflows with one due scheduled execution each, whose job is Enqueued; the one at <paramref name="lostAt"/> has lost its job.</summary>
    private async Task<long> SeedHealthyBacklogAsync(int count, int lostAt)
    {
        var sql = Store.Dialect.Sql;
        var due = Now.AddMinutes(-10);
        long lost = 0;
        await using var connection = Store.Dialect.CreateConnection();
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        for (var i = 0; i < count; i++)
        {
            var workflow = new WorkflowRecord
            {
                Type = "signup", HeroType = "User", HeroId = $"backlog-{i}", State = "ready", NextStepName = "first",
                CreatedAt = due, UpdatedAt = due, StartedAt = due,
            };
            var workflowId = await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, sql.InsertWorkflow.Text, StatementBinder.Bind(Store.Dialect, sql.InsertWorkflow, workflow), tx);
            var jobId = $"healthy-{i}";
            var execution = new StepExecutionRecord
            {
                WorkflowId = workflowId, StepName = "first", State = "scheduled", ScheduledFor = due.AddMilliseconds(i), JobId = jobId,
                DispatchedAt = Now, CreatedAt = due, UpdatedAt = due, Attempt = 1,
            };
            var executionId = await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, sql.InsertStepExecution.Text, StatementBinder.Bind(Store.Dialect, sql.InsertStepExecution, execution), tx);
            if (i == lostAt)
            {
                lost = executionId; // its job vanished from Hangfire's storage
            }
            else
            {
                _jobStates[jobId] = "Enqueued";
            }
        }

        await tx.CommitAsync();
        if (Database == "postgresql")
        {
            // Statistics, as autovacuum keeps them on a real table: without them the planner takes 10,000 rows for a handful.
            await Dapper.SqlMapper.ExecuteAsync(connection, $"ANALYZE {Db.Table("Workflows")}; ANALYZE {Db.Table("StepExecutions")};");
        }

        return lost;
    }

    private async Task<StepExecutionRecord> ScheduledWithJobAsync(string hero, string? jobId, string? jobState)
    {
        var created = await StartAsync(hero);
        if (jobId is not null)
        {
            await Store.SetJobIdAsync(created.FirstExecution!.Id, jobId);
            _jobStates[jobId] = jobState;
        }

        return created.FirstExecution!;
    }

    [Test]
    public async Task ExecutionWithoutAJob_GetsOneAfterTheGracePeriod()
    {
        var execution = await ScheduledWithJobAsync("never-dispatched", null, null);

        var early = await _maintenance.ReconcileAsync();
        Clock.Advance(_options.DispatchGracePeriod);
        var late = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(early.JobsCreated, Is.Zero, "the job is normally created right after the commit");
            Assert.That(late.JobsCreated, Is.EqualTo(1));
            Assert.That(_dispatched, Is.EqualTo(new[] { execution.Id }));
        });
    }

    [TestCase(null)]
    [TestCase("Succeeded")]
    [TestCase("Deleted")]
    [TestCase("Failed")]
    public async Task DueExecution_WhoseJobIsGoneOrEnded_GetsANewJob(string? jobState)
    {
        var execution = await ScheduledWithJobAsync("lost", "42", jobState);

        var report = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(report.JobsCreated, Is.EqualTo(1));
            Assert.That(_dispatched, Is.EqualTo(new[] { execution.Id }));
        });
    }

    [Test]
    public async Task JobWaitingInItsQueue_IsLeftAlone_UntilItWaitedPastTheThreshold()
    {
        var execution = await ScheduledWithJobAsync("waiting", "7", "Enqueued");

        Clock.Advance(_options.StuckScheduledThreshold - TimeSpan.FromSeconds(1));
        var fresh = await _maintenance.ReconcileAsync();
        Clock.Advance(TimeSpan.FromSeconds(1));
        var stuck = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(fresh.JobsCreated, Is.Zero);
            Assert.That(stuck.JobsCreated, Is.EqualTo(1));
            Assert.That(_dispatched, Is.EqualTo(new[] { execution.Id }));
        });
    }

    [Test]
    public async Task Backlog_GetsAtMostOneExtraJobPerExecutionPerThreshold()
    {
        // A queue that is hours behind: every job stays Enqueued, and the reconciler runs every minute.
        var executions = new List<StepExecutionRecord>();
        for (var i = 0; i < 5; i++)
        {
            executions.Add(await ScheduledWithJobAsync($"backlog-{i}", $"queued-{i}", "Enqueued"));
        }

        var runs = 0;
        for (var minute = 0; minute < 60; minute++)
        {
            Clock.Advance(TimeSpan.FromMinutes(1));
            await _maintenance.ReconcileAsync();
            runs++;
        }

        var perExecution = executions.ToDictionary(e => e.Id, e => _dispatched.Count(id => id == e.Id));
        var allowed = (int)(TimeSpan.FromMinutes(runs) / _options.StuckScheduledThreshold);
        Assert.Multiple(() =>
        {
            Assert.That(perExecution.Values, Has.All.LessThanOrEqualTo(allowed), $"at most one extra job per {_options.StuckScheduledThreshold} per execution over {runs} runs");
            Assert.That(perExecution.Values, Has.All.GreaterThanOrEqualTo(allowed - 1), "a stranded job is still replaced once per threshold");
        });
    }

    [Test]
    public async Task OverdueScheduledJob_IsMovedToItsQueue_NotDuplicated()
    {
        // Hangfire's schedule poller is stuck: the job stays Scheduled after its time.
        var created = await StartAsync("poller-stuck", wait: TimeSpan.FromMinutes(10));
        await Store.SetJobIdAsync(created.FirstExecution!.Id, "scheduled-1");
        _jobStates["scheduled-1"] = "Scheduled";

        Clock.Advance(TimeSpan.FromMinutes(10));
        var onTime = await _maintenance.ReconcileAsync();
        Clock.Advance(_options.ScheduledJobGrace);
        var overdue = await _maintenance.ReconcileAsync();
        var again = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(onTime.JobsMovedToQueue, Is.Zero, "the poller gets a grace period");
            Assert.That(overdue.JobsMovedToQueue, Is.EqualTo(1));
            Assert.That(_moved, Is.EqualTo(new[] { "scheduled-1" }), "the same job is moved once");
            Assert.That(again.JobsMovedToQueue + again.JobsCreated, Is.Zero, "a moved job waits its turn in the queue");
            Assert.That(_dispatched, Is.Empty, "no job is added");
        });
    }

    [Test]
    public async Task ProcessingJob_OnALiveServer_IsNotDuplicated_BeforeTheThreshold()
    {
        await ScheduledWithJobAsync("busy", "9", "Processing");
        Clock.Advance(_options.StuckScheduledThreshold - TimeSpan.FromSeconds(1));

        Assert.That((await _maintenance.ReconcileAsync()).JobsCreated, Is.Zero);
    }

    [Test]
    public async Task ProcessingJob_OnADeadServer_WithItsStepNeverClaimed_GetsANewJob()
    {
        // The worker fetched the job, Hangfire marked it Processing, and the process died before the claim.
        var execution = await ScheduledWithJobAsync("fetched-then-killed", "11", "Processing");
        _onDeadServer.Add("11");

        var atOnce = await _maintenance.ReconcileAsync();
        Clock.Advance(_options.DispatchGracePeriod);
        var later = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(atOnce.JobsCreated, Is.Zero, "a job just dispatched gets the grace period");
            Assert.That(later.JobsCreated, Is.EqualTo(1));
            Assert.That(_dispatched, Is.EqualTo(new[] { execution.Id }));
        });
    }

    [Test]
    public async Task ScheduledStepOfAPausedWorkflow_GetsNoJob()
    {
        var created = await StartAsync("paused");
        await Store.PauseAsync(created.Workflow.Id);
        Clock.Advance(TimeSpan.FromHours(1));

        Assert.That((await _maintenance.ReconcileAsync()).JobsCreated, Is.Zero);
    }

    [Test]
    public async Task FutureStep_IsNotTouched()
    {
        await StartAsync("future", wait: TimeSpan.FromDays(3));
        Clock.Advance(TimeSpan.FromHours(1));

        Assert.That((await _maintenance.ReconcileAsync()).JobsCreated, Is.Zero);
    }

    [TestCase(StuckRecoveryAction.Reattempt)]
    [TestCase(StuckRecoveryAction.Cancel)]
    public async Task ExpiredLease_IsRecoveredByTheConfiguredAction(StuckRecoveryAction action)
    {
        _options.StuckRecoveryAction = action;
        var (created, claim) = await StartAndClaimAsync("crashed");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        var report = await _maintenance.ReconcileAsync();

        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(report.ExecutionsRecovered, Is.EqualTo(1));
            Assert.That((await ExecutionAsync(claim.Execution!.Id)).StepOutcome, Is.EqualTo(StepOutcome.Recovered));
            if (action == StuckRecoveryAction.Reattempt)
            {
                Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
                Assert.That(report.JobsCreated, Is.EqualTo(1));
                Assert.That(_dispatched.Single(), Is.Not.EqualTo(claim.Execution.Id));
            }
            else
            {
                Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
                Assert.That(_dispatched, Is.Empty);
            }
        });
    }

    [Test]
    public async Task LiveLease_IsNotRecovered()
    {
        await StartAndClaimAsync("alive");
        Clock.Advance(Lease - TimeSpan.FromSeconds(1));

        Assert.That((await _maintenance.ReconcileAsync()).ExecutionsRecovered, Is.Zero);
    }

    [Test]
    public async Task ABadRow_DoesNotStopTheOthers()
    {
        var first = await ScheduledWithJobAsync("bad", "1", null);
        var second = await ScheduledWithJobAsync("good", "2", null);
        _dispatcher.Setup(d => d.DispatchAsync(It.IsAny<WorkflowRecord>(), It.Is<StepExecutionRecord>(e => e.Id == first.Id), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new InvalidOperationException("storage hiccup"));

        var report = await _maintenance.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(report.Errors, Is.EqualTo(1));
            Assert.That(report.JobsCreated, Is.EqualTo(1));
            Assert.That(_dispatched, Is.EqualTo(new[] { second.Id }));
            Assert.That(report.ToString(), Is.EqualTo("1 step job(s) re-created, 0 overdue scheduled job(s) moved to their queue, 0 abandoned step(s) recovered, 1 error(s)"));
        });
    }

    [Test]
    public async Task Cleanup_DeletesThousandsOfEndedWorkflowsInBatches_KeepingRecentAndOngoingOnes()
    {
        const int ended = 2500;
        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            for (var i = 0; i < ended; i++)
            {
                await Store.CreateAsync(Spec($"old{i}", firstStep: null), connection, null);
            }
        }

        var ongoing = await StartAsync("ongoing");
        Clock.Advance(TimeSpan.FromDays(31));
        var recent = await StartAsync("recent", firstStep: null);

        var report = await _maintenance.CleanupAsync();

        Assert.Multiple(async () =>
        {
            Assert.That((report.WorkflowsDeleted, report.Batches), Is.EqualTo((ended, 3)));
            Assert.That(report.ToString(), Is.EqualTo($"{ended} workflow(s) and 0 step execution(s) deleted in 3 batch(es)"));
            Assert.That(await Store.GetWorkflowAsync(ongoing.Workflow.Id), Is.Not.Null);
            Assert.That(await Store.GetCurrentExecutionAsync(ongoing.Workflow.Id), Is.Not.Null);
            Assert.That(await Store.GetWorkflowAsync(recent.Workflow.Id), Is.Not.Null);
        });
        TestContext.Out.WriteLine($"{Database}: {report}");
    }

    [Test]
    public async Task Cleanup_DeletesExecutionsWithTheirWorkflows()
    {
        var (created, claim) = await StartAndClaimAsync("with-history");
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success(null));
        Clock.Advance(TimeSpan.FromDays(30) + TimeSpan.FromSeconds(1));

        var report = await _maintenance.CleanupAsync();

        Assert.Multiple(async () =>
        {
            Assert.That((report.WorkflowsDeleted, report.ExecutionsDeleted), Is.EqualTo((1, 1)));
            Assert.That(await Store.GetHistoryAsync(created.Workflow.Id), Is.Empty);
        });
    }

    [Test]
    public async Task Cleanup_IsDisabledByANullRetention()
    {
        _options.DeleteCompletedWorkflowsAfter = null;
        await StartAsync("done", firstStep: null);
        Clock.Advance(TimeSpan.FromDays(365));

        var report = await _maintenance.CleanupAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(report.Disabled, Is.True);
            Assert.That((await Store.GetPageAsync(null, null, 0, 10)).Total, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task DeletedStepJob_PausesItsReadyWorkflow_AndOnlyForThatJob()
    {
        var execution = await ScheduledWithJobAsync("deleted", "55", "Scheduled");

        var otherJob = await _maintenance.PauseForDeletedJobAsync(execution.Id, "56");
        var paused = await _maintenance.PauseForDeletedJobAsync(execution.Id, "55");

        var workflow = await WorkflowAsync(execution.WorkflowId);
        Assert.Multiple(async () =>
        {
            Assert.That(otherJob, Is.False, "a stale duplicate job's deletion changes nothing");
            Assert.That(paused, Is.True);
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Paused));
            Assert.That((await ExecutionAsync(execution.Id)).ExecutionState, Is.EqualTo(StepExecutionState.Scheduled), "resume runs it");
        });
    }
}
