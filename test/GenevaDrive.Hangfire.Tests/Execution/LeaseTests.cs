using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using GenevaDrive.Testing;
using GenevaDrive.Server;
using GenevaDrive.Execution;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Execution;

/// <summary>The heartbeat of a running step, driven by the fake clock.</summary>
public sealed class LeaseTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task LongStepWithALiveHeartbeat_IsNeverTakenOver_EvenPastTwoHours()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(runtime, claim);
        run.Begin("job-1");

        for (var minute = 0; minute < 150; minute++)
        {
            var renewals = run.Renewals;
            Host.AdvanceTime(TimeSpan.FromMinutes(1));
            await WaitUntilAsync(() => run.Renewals > renewals, $"heartbeat {renewals + 1}");
        }

        var intruder = await runtime.Runner.ClaimAsync(execution.Id, "job-2");
        var reconcile = await runtime.Maintenance.ReconcileAsync();
        run.End(null);

        Assert.Multiple(() =>
        {
            Assert.That(intruder.Outcome, Is.EqualTo(ClaimOutcome.LeaseHeld), intruder.Reason);
            Assert.That(reconcile.ExecutionsRecovered, Is.Zero);
            Assert.That(run.FenceToken.IsCancellationRequested, Is.False, "a renewed lease is never fenced");
        });
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Claims the blocking step and starts its body on a real <see cref="RunningStep"/>, as the Hangfire filter would.</summary>
    private async Task<(WorkflowInfo Workflow, RunningStep Run, Task<string> Body)> StartBlockingRunAsync(Func<ClaimResult, ClaimResult>? tamper = null)
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<BlockingWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(runtime, tamper is null ? claim : tamper(claim));
        run.Begin("job-1");
        var body = run.ExecuteAsync(CancellationToken.None);
        await Probe.Started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        return (workflow, run, body);
    }

    [Test]
    public async Task LostLease_CancelsTheBodysToken_AndItsResultIsDiscarded()
    {
        // Another run holds the lease now (it took the step over): this run's token is no longer the row's.
        var (workflow, run, body) = await StartBlockingRunAsync(claim =>
            claim with { Execution = CloneWithToken(claim.Execution!, "taken-over-by-someone-else") });

        Host.AdvanceTime(Host.Engine.Runtime.Options.HeartbeatInterval);
        var text = await body.WaitAsync(TimeSpan.FromSeconds(20));
        var report = run.End(null);

        var current = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Does.Contain("block canceled"), "the body saw its token fire");
            Assert.That(run.FenceReason, Does.Contain("lost its lease"));
            Assert.That(run.Decision!.Completion.Outcome, Is.EqualTo(StepOutcome.Interrupted), "no exception policy ran (this step's is Cancel): " + text);
            Assert.That(report!.Outcome, Is.EqualTo(FinalizeOutcome.LeaseLost), "the fenced run writes nothing");
            Assert.That(current.State, Is.EqualTo(StepExecutionState.InProgress), "the row still belongs to the lease holder");
            Assert.That(Probe.Events.First(), Does.StartWith($"block started {current.Id}"), "the fencing token is the attempt's id");
        });
    }

    [Test]
    public async Task HeartbeatsFailingForMostOfTheLease_FenceTheBody_BeforeTheLeaseExpires()
    {
        var lease = Host.Engine.Runtime.Options.LeaseTimeout;
        var (workflow, run, body) = await StartBlockingRunAsync();
        var failures = 0;
        Host.Engine.Runtime.Store.Faults = point =>
        {
            if (point == "heartbeat")
            {
                Interlocked.Increment(ref failures);
                throw new TimeoutException("database unreachable (injected)");
            }

            return Task.CompletedTask;
        };

        var advanced = TimeSpan.Zero;
        while (!run.FenceToken.IsCancellationRequested && advanced < lease)
        {
            var before = Volatile.Read(ref failures);
            Host.AdvanceTime(Host.Engine.Runtime.Options.HeartbeatInterval);
            advanced += Host.Engine.Runtime.Options.HeartbeatInterval;
            await WaitUntilAsync(() => Volatile.Read(ref failures) > before || run.FenceToken.IsCancellationRequested, "a heartbeat attempt");
        }

        Host.Engine.Runtime.Store.Faults = null;
        await body.WaitAsync(TimeSpan.FromSeconds(20));
        var report = run.End(null);
        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(run.FenceToken.IsCancellationRequested, Is.True);
            Assert.That(advanced, Is.LessThan(lease), "fenced before the lease ran out, so nobody could have taken over yet");
            Assert.That(run.FenceReason, Does.Contain("renew").And.Contain("its lease for"));
            Assert.That(report!.Outcome, Is.EqualTo(FinalizeOutcome.Applied), "the lease was still its own: the interruption is recorded");
            Assert.That(history[0].Outcome, Is.EqualTo(StepOutcome.Interrupted));
            Assert.That(history[1].State, Is.EqualTo(StepExecutionState.Scheduled), "the step runs again as a new attempt");
            Assert.That(history[1].StepName, Is.EqualTo("block"));
        });
    }

    [Test]
    public async Task AHeartbeatCallThatNeverReturns_DoesNotHoldBackTheFence()
    {
        var lease = Host.Engine.Runtime.Options.LeaseTimeout;
        var hung = new TaskCompletionSource();
        var (_, run, body) = await StartBlockingRunAsync();
        var calls = 0;
        // The database call hangs and ignores its cancellation (a connect or command stuck in the network stack).
        Host.Engine.Runtime.Store.Faults = point => point == "heartbeat" && Interlocked.Increment(ref calls) > 0 ? hung.Task : Task.CompletedTask;

        Host.AdvanceTime(Host.Engine.Runtime.Options.HeartbeatInterval);
        await WaitUntilAsync(() => Volatile.Read(ref calls) == 1, "the heartbeat call to hang");
        var advanced = Host.Engine.Runtime.Options.HeartbeatInterval;
        while (!run.FenceToken.IsCancellationRequested && advanced < lease)
        {
            Host.AdvanceTime(TimeSpan.FromMilliseconds(100));
            advanced += TimeSpan.FromMilliseconds(100);
        }

        await body.WaitAsync(TimeSpan.FromSeconds(20));
        var stopReason = run.StopReason;
        hung.SetResult();
        Host.Engine.Runtime.Store.Faults = null;
        run.End(null);

        Assert.Multiple(() =>
        {
            Assert.That(run.FenceToken.IsCancellationRequested, Is.True, "the fence fired while the heartbeat call still hung");
            Assert.That(Volatile.Read(ref calls), Is.EqualTo(1), "one heartbeat call, still hanging when the fence fired");
            Assert.That(advanced, Is.LessThanOrEqualTo(lease * RunningStep.FenceAfterFraction + TimeSpan.FromMilliseconds(100)),
                "the fence fired at its deadline, before the lease ran out");
            Assert.That(stopReason, Is.EqualTo(StepStopReason.LeaseLost));
            Assert.That(Probe.StopReasons, Is.EqualTo(new[] { StepStopReason.LeaseLost }), "the step read why its token fired");
        });
    }

    [Test]
    public async Task AResumableStepsCursor_TravelsWithTheHeartbeat_BetweenItsCheckpoints()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<RarelyCheckpointingCounterWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(runtime, claim);
        run.Begin("job-1");
        string? savedByTheBeat = null;
        var checkpointsByThen = -1;
        Probe.OnItem = async (item, _) =>
        {
            if (item == 5)
            {
                // Items 1-4 returned; no checkpoint is due for an hour. One heartbeat passes.
                var before = run.Renewals;
                Host.AdvanceTime(runtime.Options.HeartbeatInterval);
                await WaitUntilAsync(() => run.Renewals > before, "a heartbeat");
                var row = (await runtime.Store.GetStepExecutionAsync(execution.Id))!;
                savedByTheBeat = row.Cursor;
                checkpointsByThen = row.Checkpoints;
            }
        };

        await run.ExecuteAsync(CancellationToken.None);
        run.End(null);

        Assert.Multiple(() =>
        {
            Assert.That(savedByTheBeat, Is.EqualTo("4"), "a crash now would resume after item 4, not start over");
            Assert.That(checkpointsByThen, Is.Zero, "no checkpoint had been written: the heartbeat carried the cursor");
        });
    }

    [Test]
    public async Task TheHeartbeatGoesOnWhileFinalizeRetries_SoTheLeaseOutlivesASlowFinalize()
    {
        var runtime = Host.Engine.Runtime;
        var lease = runtime.Options.LeaseTimeout;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(runtime, claim);
        run.Begin("job-1");
        await run.ExecuteAsync(CancellationToken.None);
        var recoveredMeanwhile = -1;
        var renewedMeanwhile = 0;
        var faulted = 0;
        runtime.Store.Faults = async point =>
        {
            if (point != "finalize.begin" || Interlocked.Increment(ref faulted) != 1)
            {
                return;
            }

            // The database is slow to take the finalize: twice the lease passes meanwhile.
            var renewals = run.Renewals;
            for (var passed = TimeSpan.Zero; passed < lease * 2; passed += runtime.Options.HeartbeatInterval)
            {
                var before = run.Renewals;
                Host.AdvanceTime(runtime.Options.HeartbeatInterval);
                await WaitUntilAsync(() => run.Renewals > before, "a heartbeat during finalize");
            }

            renewedMeanwhile = run.Renewals - renewals;
            recoveredMeanwhile = (await runtime.Maintenance.ReconcileAsync()).ExecutionsRecovered;
            throw TransientFault();
        };

        var report = await Task.Run(() => run.End(null));
        runtime.Store.Faults = null;

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(renewedMeanwhile, Is.GreaterThanOrEqualTo(10), "the lease was renewed while finalize waited");
            Assert.That(recoveredMeanwhile, Is.Zero, "the reconciler did not take the step over from a finalize in flight");
            Assert.That(report!.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(history.Select(h => (h.StepName, h.State)), Is.EqualTo(new[]
            {
                ("first", StepExecutionState.Completed), ("second", StepExecutionState.Scheduled),
            }), Describe(history));
            Assert.That(Probe.Events.Count(e => e.StartsWith("first", StringComparison.Ordinal)), Is.EqualTo(1), "the body ran once");
        });
    }

    [Test]
    public async Task AnOutcomeThatCannotBeRecorded_DoesNotFailTheJob_AndTheLeaseRecoversTheStep()
    {
        var log = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        await using var host = WorkflowTestHost.Create(options =>
            {
                Db.ConfigureStorage(options);
                options.AddWorkflow<ThreeStepWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
                options.LeaseTimeout = TimeSpan.FromSeconds(1);
                options.TransientFaultBudget = TimeSpan.FromMilliseconds(300);
            },
            services => services.AddSingleton(Probe).AddSingleton(Accounts).AddLogging(b => b.AddProvider(log)));
        var workflow = await host.Client.StartAsync<ThreeStepWorkflow>(Accounts.Add("outage"));
        var execution = (await host.Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await host.Engine.Runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(host.Engine.Runtime, claim);
        run.Begin("job-1");
        await run.ExecuteAsync(CancellationToken.None);
        // The database stays unreachable for longer than the finalize's budget (half the lease, at least the transient budget).
        host.Engine.Runtime.Store.Faults = point => point == "finalize.begin" ? throw TransientFault() : Task.CompletedTask;

        FinalizeReport? report = null;
        Assert.DoesNotThrow(() => report = run.End(null), "the job is not failed for an outage");
        host.Engine.Runtime.Store.Faults = null;
        host.AdvanceTime(TimeSpan.FromSeconds(2));
        var reconcile = await host.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(report, Is.Null, "nothing was recorded");
            Assert.That(log.Entries.Select(e => e.Message), Has.Some.Contains("Could not record the outcome (success) of step execution"));
            Assert.That(reconcile.StepsRecovered, Is.EqualTo(1), "the step's lease ran out and it was recovered");
        });
    }

    [Test]
    public async Task Finalize_SurvivesATransientFaultAfterItsCommit_WithoutRunningTheBodyAgain()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var injected = 0;
        runtime.Store.Faults = point =>
            point == "finalize.committed" && Interlocked.Increment(ref injected) == 1
                ? throw TransientFault()
                : Task.CompletedTask;

        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new RunningStep(runtime, claim);
        run.Begin("job-1");
        var text = await run.ExecuteAsync(CancellationToken.None);
        var report = run.End(null);
        runtime.Store.Faults = null;

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(injected, Is.GreaterThanOrEqualTo(1), "the fault was injected after the commit");
            Assert.That(report!.Outcome, Is.EqualTo(FinalizeOutcome.Applied), "the retry recognised its own commit");
            Assert.That(Probe.Events.Count(e => e.StartsWith("first", StringComparison.Ordinal)), Is.EqualTo(1), "the body ran once");
            Assert.That(history.Select(h => (h.StepName, h.State)), Is.EqualTo(new[]
            {
                ("first", StepExecutionState.Completed), ("second", StepExecutionState.Scheduled),
            }), "one completion, one next step: " + text);
        });
    }

    [Test]
    public async Task Claim_SurvivesATransientFaultAfterItsCommit_AndStillRunsTheStep()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var injected = 0;
        runtime.Store.Faults = point =>
            point == "claim.committed" && Interlocked.Increment(ref injected) == 1 ? throw TransientFault() : Task.CompletedTask;

        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        runtime.Store.Faults = null;

        Assert.Multiple(async () =>
        {
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That(claim.Execution!.Id, Is.EqualTo(execution.Id));
            Assert.That((await Client.GetCurrentExecutionAsync(workflow.Id))!.State, Is.EqualTo(StepExecutionState.InProgress));
        });
    }

    [Test]
    public async Task Claim_AsTheJobFilterMakesIt_Blocking_SurvivesATransientFaultAfterItsCommit()
    {
        // The filter claims with StoreIo.Blocking: the retry after a lost acknowledgement must find its own lease there too.
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var injected = 0;
        runtime.Store.Faults = point =>
            point == "claim.committed" && Interlocked.Increment(ref injected) == 1 ? throw TransientFault() : Task.CompletedTask;

        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1", io: GenevaDrive.Store.StoreIo.Blocking);
        runtime.Store.Faults = null;

        Assert.Multiple(async () =>
        {
            Assert.That(injected, Is.GreaterThanOrEqualTo(1), "the fault was injected after the commit");
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That(claim.Execution!.Id, Is.EqualTo(execution.Id), "its own claim, not a takeover");
            Assert.That((await HistoryAsync(workflow.Id)).Count(h => h.State == StepExecutionState.InProgress), Is.EqualTo(1));
        });
    }

    private static StepExecutionRecord CloneWithToken(StepExecutionRecord source, string token) => new()
    {
        Id = source.Id,
        WorkflowId = source.WorkflowId,
        StepName = source.StepName,
        State = source.State,
        ScheduledFor = source.ScheduledFor,
        JobId = source.JobId,
        LeaseToken = token,
        CreatedAt = source.CreatedAt,
        UpdatedAt = source.UpdatedAt,
    };

    [Test]
    public async Task WithoutItsHeartbeat_TheSameStepIsRecoveredAfterTheLease()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        await runtime.Runner.ClaimAsync(execution.Id, "job-1");

        Host.AdvanceTime(runtime.Options.LeaseTimeout + TimeSpan.FromSeconds(1));
        var reconcile = await runtime.Maintenance.ReconcileAsync();
        var runs = await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(reconcile.ExecutionsRecovered, Is.EqualTo(1));
            Assert.That(history[0].Outcome, Is.EqualTo(StepOutcome.Recovered));
            Assert.That(history[1].StepName, Is.EqualTo("first"));
            Assert.That(runs.Select(r => r.StepName), Is.EqualTo(new[] { "first", "second", "third" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }
}
