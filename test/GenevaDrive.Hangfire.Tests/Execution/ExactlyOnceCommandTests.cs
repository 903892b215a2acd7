using GenevaDrive.Storage;

namespace GenevaDrive.Tests.Execution;

/// <summary>
/// Every write command survives a lost commit acknowledgement: a transient fault injected right after its commit makes
/// the store repeat the transaction, and the repeat finds the operation's own row and returns the first attempt's result
/// instead of applying the command twice (or reporting a false refusal). Without the operation row, a repeated skip skips
/// two steps, a repeated start creates two workflows (or refuses its own), and a repeated pause, resume or cancel throws.
/// </summary>
public sealed class ExactlyOnceCommandTests(string database) : EngineTestBase(database)
{
    private int _faults;

    /// <summary>Throws a transient fault once, right after <paramref name="point"/>'s commit.</summary>
    private void LoseTheAcknowledgementOf(string point)
    {
        _faults = 0;
        Host.Engine.Runtime.Store.Faults = p => p == point + ".committed" && Interlocked.Increment(ref _faults) == 1 ? throw TransientFault() : Task.CompletedTask;
    }

    private void AssertTheFaultWasInjected() => Assert.That(_faults, Is.EqualTo(1), "the fault was injected after the one commit");

    [Test]
    public async Task Start_OfAnAllowMultipleWorkflow_RepeatedAfterALostAcknowledgement_CreatesOne()
    {
        var account = Accounts.Add("acct-1");
        LoseTheAcknowledgementOf("start");

        var started = await Client.StartAsync<ThreeStepWorkflow>(account, new StartOptions { AllowMultiple = true });

        var all = await Client.GetByHeroAsync(account);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(all.Select(w => w.Id), Is.EqualTo(new[] { started.Id }), "one workflow, the one returned");
            Assert.That(started.NextStepName, Is.EqualTo("first"));
            Assert.That(Host.DispatchedSteps.Count(d => d.StepName == "first"), Is.EqualTo(1), "its first step dispatched once");
        });
    }

    [Test]
    public async Task Start_WhoseWritesWereSent_AndWhoseAnswerWasLost_CreatesOne()
    {
        // On PostgreSQL the start is one statement that also commits: a fault after it leaves the outcome unknown, and the
        // repeat must look for its operation row. Elsewhere the fault comes before the commit, which then never happens.
        var account = Accounts.Add("acct-1");
        _faults = 0;
        Host.Engine.Runtime.Store.Faults = p => p == "start.written" && Interlocked.Increment(ref _faults) == 1 ? throw TransientFault() : Task.CompletedTask;

        var started = await Client.StartAsync<ThreeStepWorkflow>(account, new StartOptions { AllowMultiple = true });

        var all = await Client.GetByHeroAsync(account);
        Assert.Multiple(() =>
        {
            // Where the start commits apart from its writes, the repeat writes again (and passes the point again).
            Assert.That(_faults, Is.GreaterThanOrEqualTo(1), "the fault was injected after the writes");
            Assert.That(all.Select(w => w.Id), Is.EqualTo(new[] { started.Id }), "one workflow, the one returned");
            Assert.That(Host.DispatchedSteps.Count(d => d.StepName == "first"), Is.EqualTo(1), "its first step dispatched once");
        });
    }

    [Test]
    public async Task Start_OfASingleInstanceWorkflow_RepeatedAfterALostAcknowledgement_ReturnsItsOwnWorkflow()
    {
        var account = Accounts.Add("acct-1");
        LoseTheAcknowledgementOf("start");

        var started = await Client.StartAsync<ThreeStepWorkflow>(account);

        var all = await Client.GetByHeroAsync(account);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(all.Select(w => w.Id), Is.EqualTo(new[] { started.Id }), "the repeat did not refuse its own workflow as 'already exists'");
        });
    }

    [Test]
    public async Task Pause_RepeatedAfterALostAcknowledgement_ReportsThePause()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        LoseTheAcknowledgementOf("pause");

        var paused = await Client.PauseAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task Resume_RepeatedAfterALostAcknowledgement_ResumesAndDispatchesTheStep()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        await Client.PauseAsync(workflow.Id);
        var dispatchedBefore = Host.DispatchedSteps.Count;
        LoseTheAcknowledgementOf("resume");

        var resumed = await Client.ResumeAsync(workflow.Id);

        var current = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(resumed.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(current.StepName, Is.EqualTo("second"));
            Assert.That(Host.DispatchedSteps.Skip(dispatchedBefore).Select(d => d.StepExecutionId), Does.Contain(current.Id),
                "the client dispatched the resumed step (it does not wait for the reconciler)");
        });
    }

    [Test]
    public async Task Cancel_RepeatedAfterALostAcknowledgement_ReportsTheCancel()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        LoseTheAcknowledgementOf("cancel");

        var canceled = await Client.CancelAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(canceled.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(history.Select(h => h.State), Is.EqualTo(new[] { StepExecutionState.Canceled }));
        });
    }

    [Test]
    public async Task Skip_RepeatedAfterALostAcknowledgement_SkipsOneStep()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        LoseTheAcknowledgementOf("skip");

        var skipped = await Client.SkipAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(skipped.NextStepName, Is.EqualTo("second"));
            Assert.That(history.Select(h => (h.StepName, h.State)), Is.EqualTo(new[]
            {
                ("first", StepExecutionState.Skipped), ("second", StepExecutionState.Scheduled),
            }), Describe(history));
        });
    }

    [Test]
    public async Task Jump_RepeatedAfterALostAcknowledgement_JumpsOnce()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        LoseTheAcknowledgementOf("jump");

        var jumped = await Client.JumpToAsync(workflow.Id, "third");

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(jumped.NextStepName, Is.EqualTo("third"));
            Assert.That(history.Select(h => (h.StepName, h.State)), Is.EqualTo(new[]
            {
                ("first", StepExecutionState.Skipped), ("third", StepExecutionState.Scheduled),
            }), Describe(history));
        });
    }

    [Test]
    public async Task EventDelivery_RepeatedAfterALostAcknowledgement_ReportsDelivered_AndWakesTheStep()
    {
        var workflow = await StartAsync<EmailConfirmationWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var waiting = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        LoseTheAcknowledgementOf("event");

        var delivery = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("c0ffee"), eventId: "mail-1");

        var woken = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var events = await Client.GetEventsAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(delivery.Outcome, Is.EqualTo(EventDeliveryOutcome.Delivered), "not 'Duplicate' of its own first attempt");
            Assert.That(woken.Id, Is.EqualTo(waiting.Id));
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(Now), "the waiting step was moved to now");
            Assert.That(events, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task DuplicateDelivery_ToAStepThatStillWaits_WakesIt()
    {
        var workflow = await StartAsync<EmailConfirmationWorkflow>();
        await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("early"), eventId: "mail-1");
        await Host.RunNextStepAsync(workflow.Id);
        var waiting = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        // The step was scheduled for its timeout after all (a lost wake-up): put it back there.
        await Db.ExecuteAsync($"UPDATE {Db.Table("StepExecutions")} SET \"ScheduledFor\" = @At WHERE \"Id\" = @Id", new { At = Now.AddDays(3), waiting.Id });

        var duplicate = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("early"), eventId: "mail-1");

        var woken = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(() =>
        {
            Assert.That(duplicate.Outcome, Is.EqualTo(EventDeliveryOutcome.Duplicate));
            Assert.That(woken.Id, Is.EqualTo(waiting.Id));
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(Now), "the duplicate woke the step that still waits for the original");
        });
    }

    [Test]
    public async Task EventAfterItsWaitTimedOut_IsTooLate_AndALaterWaitDoesNotTakeIt()
    {
        var workflow = await StartAsync<ApprovalWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var timeout = await Host.RunNextStepAsync(workflow.Id);
        Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Paused), timeout?.Text);

        var late = await Client.SendEventAsync(workflow.Id, "approved", "late", eventId: "a-1");
        await Client.ResumeAsync(workflow.Id);
        var rerun = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);

        var current = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(() =>
        {
            Assert.That(late.Outcome, Is.EqualTo(EventDeliveryOutcome.TooLate));
            Assert.That(current.StepName, Is.EqualTo("wait_for_approved"), "the resumed wait did not take the stale event: " + rerun?.Text);
            Assert.That(current.ScheduledFor, Is.GreaterThan(Now), "it waits again for its timeout");
            Assert.That(Probe.Events, Is.Empty, "'ship' did not run on the late event");
        });
    }

    [Test]
    public async Task Recovery_RepeatedAfterALostAcknowledgement_ReturnsWhatItScheduled()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        Assert.That(claim.IsClaimed, claim.Reason);
        await Db.ExpireLeaseAsync(execution.Id);
        LoseTheAcknowledgementOf("recover");

        var recovered = await runtime.Store.RecoverExpiredLeaseAsync(execution.Id, reattempt: true);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(recovered, Is.Not.Null, "the repeat recognised its own recovery instead of reporting 'nothing to recover'");
            Assert.That(recovered!.Execution?.StepName, Is.EqualTo("first"));
            Assert.That(history.Select(h => (h.StepName, h.Outcome)), Is.EqualTo(new (string, StepOutcome?)[]
            {
                ("first", StepOutcome.Recovered), ("first", null),
            }), Describe(history));
        });
    }

    [Test]
    public async Task Checkpoint_RepeatedAfterALostAcknowledgement_CountsOnce()
    {
        var runtime = Host.Engine.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        LoseTheAcknowledgementOf("checkpoint");

        var saved = await runtime.Store.CheckpointAsync(execution.Id, claim.Execution!.LeaseToken!, "\"7\"");

        var row = (await runtime.Store.GetStepExecutionAsync(execution.Id))!;
        Assert.Multiple(() =>
        {
            AssertTheFaultWasInjected();
            Assert.That(saved, Is.True);
            Assert.That(row.Cursor, Is.EqualTo("\"7\""));
            Assert.That(row.Checkpoints, Is.EqualTo(1), "the repeat found its cursor saved and did not count it again");
        });
    }

    [Test]
    public async Task ACommitWhoseOutcomeCannotBeLearned_IsReportedAsUnknown_WithTheOperationId()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        Host.Engine.Runtime.Store.Faults = point => point switch
        {
            "skip.committed" => throw TransientFault(),
            "skip.lookup" => throw new InvalidOperationException("the database stayed unreachable (injected)"),
            _ => Task.CompletedTask,
        };

        var unknown = Assert.ThrowsAsync<OperationOutcomeUnknownException>(() => Client.SkipAsync(workflow.Id));

        Host.Engine.Runtime.Store.Faults = null;
        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(unknown!.OperationId, Does.Match("^[0-9a-f]{32}$"));
            Assert.That(unknown.Command, Is.EqualTo("skip"));
            Assert.That(unknown.WorkflowId, Is.EqualTo(workflow.Id));
            Assert.That(unknown.Message, Does.Contain(unknown.OperationId).And.Contain("applied once or not at all"));
            Assert.That(history.Count(h => h.State == StepExecutionState.Skipped), Is.EqualTo(1), "the skip was committed once: " + Describe(history));
        });
    }

    [Test]
    public async Task Cleanup_DeletesOperationRowsOlderThanADay()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Client.PauseAsync(workflow.Id);
        var before = await Db.CountRowsAsync("Operations");

        Host.AdvanceTime(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        await Host.CleanupAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(before, Is.EqualTo(2), "the start and the pause each wrote one row");
            Assert.That(await Db.CountRowsAsync("Operations"), Is.Zero);
        });
    }
}
