namespace GenevaDrive.Tests.Execution;

/// <summary>
/// Resumable steps through the real claim → run → finalize path on every database: each new attempt starts
/// from the cursor saved at the last checkpoint, whatever ended the one before (a time slice, a stop from
/// outside, an exception, a pause); a rewind starts over. Idempotency keys follow the logical attempt.
/// </summary>
public sealed class ResumableStepTests(string database) : EngineTestBase(database)
{
    private IEnumerable<string> Items => Probe.Events.Where(e => e.StartsWith("item:", StringComparison.Ordinal));

    private IEnumerable<string> Starts => Probe.Events.Where(e => e.StartsWith("start:", StringComparison.Ordinal));

    private static IEnumerable<string> OneToTen => Enumerable.Range(1, CountingWorkflow.Items).Select(i => $"item:{i}");

    [Test]
    public async Task FirstRun_WorksThroughEveryItem_AndTheHistoryShowsTheCursorAndCheckpoints()
    {
        var workflow = await StartAsync<ResumableCounterWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var count = (await HistoryAsync(workflow.Id)).Single(e => e.StepName == "count");
        Assert.Multiple(async () =>
        {
            Assert.That(Items, Is.EqualTo(OneToTen));
            Assert.That(Starts, Is.EqualTo(new[] { "start:0:fresh:attempt 1" }));
            Assert.That(count.Outcome, Is.EqualTo(StepOutcome.Success));
            Assert.That(count.Cursor, Is.EqualTo("10"));
            Assert.That(count.Checkpoints, Is.EqualTo(10), "checkpointEvery zero saves after every item");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task TimeSlice_EndsTheAttemptAtACheckpoint_AndEachNextAttemptContinuesFromTheCursor()
    {
        // Every item takes 25 s on the fake clock; the slice is one minute.
        Probe.OnItem = (_, _) =>
        {
            Host.AdvanceTime(TimeSpan.FromSeconds(25));
            return Task.CompletedTask;
        };
        var workflow = await StartAsync<SlicedCounterWorkflow>();

        var runs = await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(Items, Is.EqualTo(OneToTen), "no item ran twice and none was lost");
            Assert.That(Starts, Is.EqualTo(new[]
            {
                "start:0:fresh:attempt 1", "start:3:resumed:attempt 1", "start:6:resumed:attempt 1", "start:9:resumed:attempt 1",
            }));
            Assert.That(history.Select(e => e.Outcome), Is.EqualTo(new StepOutcome?[]
            {
                StepOutcome.Suspended, StepOutcome.Suspended, StepOutcome.Suspended, StepOutcome.Success,
            }));
            Assert.That(history.Select(e => e.Cursor), Is.EqualTo(new[] { "3", "6", "9", "10" }));
            Assert.That(history.Take(3).Select(e => e.Checkpoints), Is.All.EqualTo(1), "the slice saved where it stood before yielding");
            Assert.That(runs[0].Text, Does.Contain("Suspended at checkpoint"));
            Assert.That(history.Select(e => e.IdempotencyKey).Distinct().Count(), Is.EqualTo(1), "a time slice continues the same logical attempt");
        });
    }

    [Test]
    public async Task StoppedFromOutside_TheAttemptIsInterruptedAtTheItemItFinished_AndTheNextRunResumesAfterIt()
    {
        using var stop = new CancellationTokenSource();
        Probe.OnItem = (item, _) =>
        {
            if (item == 4)
            {
                stop.Cancel();
            }

            return Task.CompletedTask;
        };
        var workflow = await StartAsync<ResumableCounterWorkflow>();

        var first = await Host.RunNextStepAsync(workflow.Id, stopToken: stop.Token);
        Probe.OnItem = null;
        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(first!.Outcome, Is.EqualTo(StepOutcome.Interrupted), first.Text);
            Assert.That(Items, Is.EqualTo(OneToTen));
            Assert.That(Starts, Is.EqualTo(new[] { "start:0:fresh:attempt 1", "start:4:resumed:attempt 1" }));
            Assert.That(history[0].Cursor, Is.EqualTo("4"));
            Assert.That(history[1].IdempotencyKey, Is.EqualTo(history[0].IdempotencyKey), "an interruption keeps the idempotency key");
        });
    }

    [Test]
    public async Task ExceptionMidIteration_IsReattemptedFromTheCursor_AsANewAttemptWithANewKey()
    {
        Probe.FailTimes("item6", 1);
        var workflow = await StartAsync<ResumableCounterWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var history = (await HistoryAsync(workflow.Id)).Where(e => e.StepName == "count").ToList();
        var contexts = Probe.Contexts.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(Items, Is.EqualTo(OneToTen), "items 1-5 were not repeated");
            Assert.That(Starts, Is.EqualTo(new[] { "start:0:fresh:attempt 1", "start:5:resumed:attempt 2" }));
            Assert.That(history.Select(e => e.Outcome), Is.EqualTo(new StepOutcome?[] { StepOutcome.Reattempted, StepOutcome.Success }));
            Assert.That(history[0].ErrorClassName, Is.EqualTo("System.TimeoutException"));
            Assert.That(contexts.Select(c => c.Attempt), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(contexts[0].IdempotencyKey, Is.Not.EqualTo(contexts[1].IdempotencyKey), "a reattempt is meant to try again");
            Assert.That(contexts[1].IdempotencyKey, Is.EqualTo(history[1].IdempotencyKey), "the API shows the key the step used");
            Assert.That(contexts[0].IdempotencyKey, Does.Match("^gd-[0-9]+-[0-9a-f]{16}-1$"));
        });
    }

    [Test]
    public async Task Rewind_StartsTheReattemptOver()
    {
        Probe.FailTimes("item6", 1);
        var workflow = await StartAsync<RewindingCounterWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(Starts, Is.EqualTo(new[] { "start:0:fresh:attempt 1", "start:0:fresh:attempt 2" }));
            Assert.That(Items, Is.EqualTo(OneToTen.Take(5).Concat(OneToTen)), "items 1-5 ran again");
        });
    }

    [Test]
    public async Task PausedMidIteration_ResumeContinuesFromTheCursor()
    {
        long workflowId = 0;
        using var stop = new CancellationTokenSource();
        Probe.OnItem = async (item, _) =>
        {
            if (item == 3)
            {
                // What an operator's pause does to a running step: recorded at once, then the heartbeat fires the token.
                await Client.PauseAsync(workflowId);
                stop.Cancel();
            }
        };
        var workflow = await StartAsync<ResumableCounterWorkflow>();
        workflowId = workflow.Id;

        await Host.RunNextStepAsync(workflow.Id, stopToken: stop.Token);
        var paused = await WorkflowAsync(workflow.Id);
        Probe.OnItem = null;
        await Client.ResumeAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(Items, Is.EqualTo(OneToTen));
            Assert.That(Starts, Is.EqualTo(new[] { "start:0:fresh:attempt 1", "start:3:resumed:attempt 1" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task KeysetPages_ResumeAfterTheLastKey()
    {
        Probe.FailTimes("id13", 1);
        var workflow = await StartAsync<PagedMailerWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Is.EqualTo(PagedMailerWorkflow.Ids.Select(id => $"mail:{id}")), "every id once, across the failure");
            Assert.That(history[0].Cursor, Is.EqualTo("{\"Id\":8}"));
            Assert.That(history[1].Cursor, Is.EqualTo("{\"Id\":55}"));
        });
    }

    [Test]
    public async Task OversizedCursor_FailsTheStepWithAMessageThatNamesTheLimit()
    {
        var workflow = await StartAsync<OversizedCursorWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var failed = (await HistoryAsync(workflow.Id)).Single();
        Assert.Multiple(() =>
        {
            Assert.That(failed.Outcome, Is.EqualTo(StepOutcome.Failed));
            Assert.That(failed.ErrorMessage, Does.Contain("5002 characters").And.Contain("limit is 4000").And.Contain("last key"));
        });
    }

    [Test]
    public async Task StepResultReattemptWithABackoff_WaitsMoreEachTime_AndTheHistoryNamesTheBackoff()
    {
        var polls = 0;
        Probe.Result = () => ++polls < 4
            ? StepResult.Reattempt(Backoff.Exponential(TimeSpan.FromSeconds(10), max: TimeSpan.FromSeconds(30)))
            : StepResult.Completed();
        var workflow = await StartAsync<BackoffPollerWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        var waits = history.Skip(1).Select((next, i) => next.ScheduledFor - history[i].FinishedAt!.Value).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(waits, Is.EqualTo(new[] { TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30) }));
            Assert.That(history[0].Backoff, Does.StartWith("exponential(initial 00:00:10, ×2, max 00:00:30): reattempt 1 waits"));
            Assert.That(history[2].Backoff, Does.EndWith("reattempt 3 waits 0:00:30"));
            Assert.That(history[3].Backoff, Is.Null);
            Assert.That(Probe.Contexts.Select(c => c.Attempt), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        });
    }
}
