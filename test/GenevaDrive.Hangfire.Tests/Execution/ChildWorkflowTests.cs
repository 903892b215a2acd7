namespace GenevaDrive.Tests.Execution;

/// <summary>
/// Fan-out and fan-in on every database: a step starts children in batches (each once, also across a crash between a batch and
/// its checkpoint), the child whose end decides the wait wakes the parent once (no job polls), the policies for canceled and
/// paused children, the timeout, and the cancel cascade.
/// </summary>
public sealed class ChildWorkflowTests(string database) : EngineTestBase(database)
{
    private async Task<(WorkflowInfo Parent, IReadOnlyList<WorkflowInfo> Children)> StartParentAsync<TParent>(int children = 3, string hero = "p1")
        where TParent : Workflow
    {
        Probe.ChildCount = children;
        var parent = await StartAsync<TParent>(hero);
        var run = await Host.RunNextStepAsync(parent.Id);
        Assert.That(run!.Outcome, Is.EqualTo(StepOutcome.Success), run.Text);
        return (parent, (await Client.GetChildrenAsync(parent.Id)).OrderBy(c => c.Id).ToList());
    }

    private async Task<StepExecutionInfo> WaitOfAsync(long parentId) => (await Client.GetCurrentExecutionAsync(parentId))!;

    private async Task<int> WakeEventsAsync(long parentId) => (await Client.GetEventsAsync(parentId)).Count(e => e.Name == "children:bill_all");

    [Test]
    public async Task All_TheLastChildToEndWakesTheParentOnce_AndTheParentReadsTheirResults()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>();
        var armed = await WaitOfAsync(parent.Id);
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        var afterTwo = await WaitOfAsync(parent.Id);
        await Host.RunNextStepAsync(children[2].Id, advanceClock: false);
        var woken = await WaitOfAsync(parent.Id);
        var wokenAt = Now;
        var wakes = await WakeEventsAsync(parent.Id);
        await Host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(children.Select(c => c.HeroId), Is.EqualTo(new[] { "p1-c1", "p1-c2", "p1-c3" }));
            Assert.That(children.Select(c => c.ParentWorkflowId), Is.All.EqualTo(parent.Id), "each child knows its parent");
            Assert.That(children.Select(c => c.ParentStepName), Is.All.EqualTo("bill_all"));
            Assert.That(armed.StepName, Is.EqualTo("wait_for_bill_all"));
            Assert.That(armed.ScheduledFor, Is.EqualTo(Now.AddHours(1)), "the wait holds one job, for its timeout");
            Assert.That(afterTwo.ScheduledFor, Is.EqualTo(armed.ScheduledFor), "two of three children ended: no wake-up");
            Assert.That(woken.Id, Is.EqualTo(armed.Id));
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(wokenAt), "the last child moved the wait to now");
            Assert.That(wakes, Is.EqualTo(1));
            Assert.That(Probe.Events, Does.Contain("sum:15").And.Contain("states:finished,finished,finished"));
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    /// <summary>
    /// Children that end before the parent's wait is armed (here: while the step that started them is being finalized) wake
    /// nothing, since nothing waits yet; the wait counts them when it is armed, under the parent's lock, and runs at once.
    /// </summary>
    [Test]
    public async Task ChildrenThatEndBeforeTheWaitIsArmed_AreCountedWhenItIsArmed()
    {
        Probe.ChildCount = 2;
        var parent = await StartAsync<FanOutAllWorkflow>("p1");
        var ranEarly = new List<StepOutcome?>();
        var running = false;
        Host.Engine.Runtime.Store.Faults = async point =>
        {
            if (point == "finalize.begin" && !running && (await Client.GetChildrenAsync(parent.Id)).Count == 2)
            {
                running = true;
                foreach (var child in await Client.GetChildrenAsync(parent.Id))
                {
                    ranEarly.Add((await Host.RunNextStepAsync(child.Id, advanceClock: false))?.Outcome);
                }
            }
        };
        await Host.RunNextStepAsync(parent.Id);
        Host.Engine.Runtime.Store.Faults = null;
        var armed = await WaitOfAsync(parent.Id);
        var armedAt = Now;
        await Host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(ranEarly, Is.EqualTo(new StepOutcome?[] { StepOutcome.Success, StepOutcome.Success }), "both children ended first");
            Assert.That(armed.StepName, Is.EqualTo("wait_for_bill_all"));
            Assert.That(armed.ScheduledFor, Is.LessThanOrEqualTo(armedAt), "armed after its children ended, the wait runs at once");
            Assert.That(await WakeEventsAsync(parent.Id), Is.EqualTo(0), "no child woke it: nothing waited when they ended");
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Any_TheFirstChildToFinishWakesTheParent_AndTheOthersGoOn()
    {
        var (parent, children) = await StartParentAsync<FanOutAnyWorkflow>();
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        var woken = await WaitOfAsync(parent.Id);
        var wokenAt = Now;
        await Host.RunToEndAsync(parent.Id);
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);

        Assert.Multiple(async () =>
        {
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(wokenAt));
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(Probe.Events, Does.Contain("states:ready,finished,ready"), "the parent read its children as they stood");
            Assert.That((await WorkflowAsync(children[0].Id)).State, Is.EqualTo(WorkflowState.Finished), "a child goes on after its parent");
            Assert.That(await WakeEventsAsync(parent.Id), Is.EqualTo(1), "a child ending after the wait was met wakes nothing");
        });
    }

    [Test]
    public async Task AtLeastTwo_WhenTooFewCanStillFinish_TheWaitFailsThroughTheExceptionPolicy()
    {
        Probe.ChildResult = hero => hero is "p1-c1" or "p1-c2" ? StepResult.Cancel() : StepResult.Completed();
        var (parent, children) = await StartParentAsync<FanOutTwoWorkflow>();
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        var beforeLast = await WaitOfAsync(parent.Id);
        await Host.RunNextStepAsync(children[2].Id, advanceClock: false);
        var run = await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        var wait = (await HistoryAsync(parent.Id)).Last(e => e.StepName == "wait_for_bill_all");

        Assert.Multiple(async () =>
        {
            Assert.That(beforeLast.ScheduledFor, Is.EqualTo(Now.AddHours(1)), "canceled children are ignored while one can still finish");
            Assert.That(run, Is.Not.Null, "the last child woke the parent");
            Assert.That(wait.ErrorClassName, Is.EqualTo(typeof(ChildWorkflowsFailedException).FullName));
            Assert.That(wait.ErrorMessage, Does.Contain("can no longer be met").And.Contain("1 of 3 finished, 2 canceled"));
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Paused), "the default policy pauses");
        });
    }

    [Test]
    public async Task ACanceledChild_UnderFailWait_WakesAndFailsTheWaitAtOnce()
    {
        Probe.ChildResult = hero => hero == "p1-c2" ? StepResult.Cancel() : StepResult.Completed();
        var (parent, children) = await StartParentAsync<FanOutStrictWorkflow>();
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        var woken = await WaitOfAsync(parent.Id);
        await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        var wait = (await HistoryAsync(parent.Id)).Last(e => e.StepName == "wait_for_bill_all");

        Assert.Multiple(async () =>
        {
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(Now), "two children still run, but the cancel decides the wait");
            Assert.That(wait.ErrorMessage, Does.Contain("canceled, and onChildCanceled is FailWait"));
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task APausedChild_UnderPauseParent_PausesTheParent_AndAfterBothResumeTheParentGoesOn()
    {
        var paused = 0;
        Probe.ChildResult = hero => hero == "p1-c2" && paused++ == 0 ? StepResult.Pause() : StepResult.Completed();
        var (parent, children) = await StartParentAsync<FanOutPauseWorkflow>();
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        var parentPaused = await WorkflowAsync(parent.Id);

        await Client.ResumeAsync(children[1].Id);
        await Host.RunNextStepAsync(children[1].Id, advanceClock: false);
        await Host.RunNextStepAsync(children[2].Id, advanceClock: false);
        await Client.ResumeAsync(parent.Id);
        await Host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(parentPaused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(parentPaused.StateReason, Does.Contain("paused, and onChildPaused is PauseParent"));
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(Probe.Events, Does.Contain("states:finished,finished,finished"));
        });
    }

    [Test]
    public async Task ChildrenThatDoNotEndInTime_TimeTheWaitOut_AndThePolicyPausesTheParent()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>();
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        Host.AdvanceTime(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        var timedOut = await WorkflowAsync(parent.Id);

        Assert.Multiple(() =>
        {
            Assert.That(timedOut.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(timedOut.StateReason, Does.Contain("The children of 'bill_all' did not meet the wait for all"));
            Assert.That(Probe.Events.Count(e => e.StartsWith("bill:", StringComparison.Ordinal)), Is.EqualTo(1), "the others never ran");
        });
    }

    /// <summary>
    /// The race of a timeout and the last child: the timeout's run counted one child still running, and that child ends after
    /// the count and before the timeout's finalize (a fault point at the start of finalize runs it). The finalize judges the
    /// children again under the parent's lock: the timeout (pause) does not apply, and the wait runs again at once and is met.
    /// </summary>
    [Test]
    public async Task ALastChildEndingWhileTheTimeoutIsApplied_WinsOverTheTimeout()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>(children: 2);
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        Host.AdvanceTime(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        StepOutcome? lastChild = null;
        Host.Engine.Runtime.Store.Faults = async point =>
        {
            if (point == "finalize.begin" && lastChild is null)
            {
                lastChild = StepOutcome.Interrupted;
                lastChild = (await Host.RunNextStepAsync(children[1].Id, advanceClock: false))?.Outcome;
            }
        };
        var timeoutRun = await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        Host.Engine.Runtime.Store.Faults = null;
        var afterTimeout = await WorkflowAsync(parent.Id);
        await Host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(lastChild, Is.EqualTo(StepOutcome.Success), "the last child ended between the timeout's count and its finalize");
            Assert.That(timeoutRun!.Text, Does.Contain("the timeout does not apply"));
            Assert.That(afterTimeout.State, Is.EqualTo(WorkflowState.Ready), "the timeout's pause did not apply");
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task CancelingTheParent_CancelsItsOngoingChildren_AndLeavesTheEndedOnes()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>();
        await Host.RunNextStepAsync(children[0].Id, advanceClock: false);
        await Client.CancelAsync(parent.Id);
        var states = new List<WorkflowInfo>();
        foreach (var child in children)
        {
            states.Add(await WorkflowAsync(child.Id));
        }

        Assert.Multiple(() =>
        {
            Assert.That(states.Select(s => s.State), Is.EqualTo(new[] { WorkflowState.Finished, WorkflowState.Canceled, WorkflowState.Canceled }));
            Assert.That(states[1].StateReason, Does.Contain($"the cancel of its parent, workflow {parent.Id}"));
        });
    }

    [Test]
    public async Task CancelWithParentFalse_KeepsTheChildrenRunning_AndPausingAParentNeverPausesChildren()
    {
        var (keep, kept) = await StartParentAsync<FanOutKeepWorkflow>();
        await Client.CancelAsync(keep.Id);
        await Host.ReconcileAsync();
        var (paused, pausedChildren) = await StartParentAsync<FanOutAllWorkflow>(children: 2, hero: "p2");
        await Client.PauseAsync(paused.Id);

        Assert.Multiple(async () =>
        {
            foreach (var child in kept.Concat(pausedChildren))
            {
                Assert.That((await WorkflowAsync(child.Id)).State, Is.EqualTo(WorkflowState.Ready), $"child {child.Id}");
            }
        });
    }

    /// <summary>
    /// The maintenance job cancels children a crash left ongoing under a canceled parent: the parent is canceled in the store
    /// alone (as if the process died before its cascade), and the reconciler finishes the cascade.
    /// </summary>
    [Test]
    public async Task ChildrenLeftOngoingUnderACanceledParent_AreCanceledByTheMaintenanceJob()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>(children: 2);
        await Host.Engine.Runtime.Store.CancelAsync(parent.Id);
        var before = await WorkflowAsync(children[0].Id);
        await Host.ReconcileAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(before.State, Is.EqualTo(WorkflowState.Ready), "the store's cancel alone does not cascade");
            foreach (var child in children)
            {
                Assert.That((await WorkflowAsync(child.Id)).State, Is.EqualTo(WorkflowState.Canceled));
            }
        });
    }

    /// <summary>
    /// A crash between a batch's commit and its checkpoint (the run is stopped right after the second batch commits): the next
    /// attempt starts again from the first batch's cursor, finds the children the lost batch started, and starts only the rest.
    /// </summary>
    [Test]
    public async Task AStopBetweenABatchAndItsCheckpoint_StartsEachChildOnce()
    {
        Probe.ChildCount = 5;
        var parent = await StartAsync<FanOutAllWorkflow>("p1");
        using var stop = new CancellationTokenSource();
        var commits = 0;
        Host.Engine.Runtime.Store.Faults = point =>
        {
            if (point == "children.committed" && ++commits == 2)
            {
                stop.Cancel();
                throw new OperationCanceledException(stop.Token);
            }

            return Task.CompletedTask;
        };
        var interrupted = await Host.RunNextStepAsync(parent.Id, stopToken: stop.Token);
        Host.Engine.Runtime.Store.Faults = null;
        var afterCrash = await Client.GetChildrenAsync(parent.Id);
        var resumed = await Host.RunNextStepAsync(parent.Id, advanceClock: false);
        var children = await Client.GetChildrenAsync(parent.Id);

        Assert.Multiple(() =>
        {
            Assert.That(interrupted!.Outcome, Is.EqualTo(StepOutcome.Interrupted), interrupted.Text);
            Assert.That(afterCrash, Has.Count.EqualTo(4), "two batches committed, the second without its checkpoint");
            Assert.That(resumed!.Outcome, Is.EqualTo(StepOutcome.Success), resumed.Text);
            Assert.That(children.Select(c => c.HeroId).OrderBy(h => h), Is.EqualTo(new[] { "p1-c1", "p1-c2", "p1-c3", "p1-c4", "p1-c5" }),
                "each child exactly once");
        });
    }

    /// <summary>
    /// A batch whose commit acknowledgement was lost (a transient fault right after the commit) is repeated: the repeat finds
    /// the children the first try committed, starts none again, and still dispatches each one's first step.
    /// </summary>
    [Test]
    public async Task ABatchWhoseCommitAcknowledgementWasLost_StartsEachChildOnce_AndDispatchesThemAll()
    {
        Probe.ChildCount = 2;
        var parent = await StartAsync<FanOutAllWorkflow>("p1");
        var faults = 0;
        Host.Engine.Runtime.Store.Faults = point => point == "children.committed" && faults++ == 0 ? throw TransientFault() : Task.CompletedTask;
        var run = await Host.RunNextStepAsync(parent.Id);
        Host.Engine.Runtime.Store.Faults = null;
        var children = await Client.GetChildrenAsync(parent.Id);
        var firstSteps = new List<long>();
        foreach (var child in children)
        {
            firstSteps.Add((await Client.GetCurrentExecutionAsync(child.Id))!.Id);
        }

        Assert.Multiple(() =>
        {
            Assert.That(run!.Outcome, Is.EqualTo(StepOutcome.Success), run.Text);
            Assert.That(faults, Is.EqualTo(2), "the batch was repeated after the lost acknowledgement");
            Assert.That(children.Select(c => c.HeroId).OrderBy(h => h), Is.EqualTo(new[] { "p1-c1", "p1-c2" }), "each child once");
            Assert.That(Host.DispatchedSteps.Select(d => d.StepExecutionId), Is.SupersetOf(firstSteps), "every child's first step was dispatched");
        });
    }

    /// <summary>
    /// Two children end at the same instant: both finalizes are held at their start until both arrived, then run together. They
    /// take turns on the parent's row; the second sees the first one ended and wakes the parent, once.
    /// </summary>
    [Test]
    public async Task TwoChildrenEndingAtTheSameInstant_WakeTheParentOnce()
    {
        var (parent, children) = await StartParentAsync<FanOutAllWorkflow>(children: 2);
        var arrived = 0;
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Engine.Runtime.Store.Faults = async point =>
        {
            if (point == "finalize.begin")
            {
                if (Interlocked.Increment(ref arrived) == 2)
                {
                    both.TrySetResult();
                }

                await both.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
        };
        var runs = await Task.WhenAll(children.Select(c => Task.Run(() => Host.RunNextStepAsync(c.Id, advanceClock: false))));
        Host.Engine.Runtime.Store.Faults = null;
        var woken = await WaitOfAsync(parent.Id);
        var wokenAt = Now;
        var wakes = await WakeEventsAsync(parent.Id);
        await Host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(runs.Select(r => r!.Outcome), Is.All.EqualTo(StepOutcome.Success));
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(wokenAt), "the parent was woken");
            Assert.That(wakes, Is.EqualTo(1), "exactly once");
            Assert.That((await WorkflowAsync(parent.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }
}
