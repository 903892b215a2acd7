using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

public sealed class StoreControlTests(string database) : StorageTestBase(database)
{
    private static NextStep? After(string step) => step switch
    {
        "first" => new NextStep("second", TimeSpan.FromMinutes(30)),
        "second" => new NextStep("third", TimeSpan.Zero),
        _ => null,
    };

    [Test]
    public async Task Pause_KeepsTheScheduledExecution_AndResumeReusesIt()
    {
        var created = await StartAsync(wait: TimeSpan.FromHours(1));

        var paused = await Store.PauseAsync(created.Workflow.Id);
        var resumed = await Store.ResumeAsync(created.Workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(paused.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.Execution!.Id, Is.EqualTo(created.FirstExecution!.Id));
            Assert.That(resumed.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
            Assert.That(resumed.Workflow.TransitionedAt, Is.Null);
            Assert.That(resumed.Execution!.Id, Is.EqualTo(created.FirstExecution.Id), "no new row");
            Assert.That(resumed.Execution.ScheduledFor, Is.EqualTo(Now.AddHours(1)), "future steps keep their time");
            Assert.That(await Store.GetHistoryAsync(created.Workflow.Id), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Resume_WithoutAScheduledExecution_SchedulesTheNextStepNow()
    {
        var (created, claim) = await StartAndClaimAsync();
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, FailedAndPaused("first"));
        Clock.Advance(TimeSpan.FromDays(1));

        var resumed = await Store.ResumeAsync(created.Workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(resumed.Execution!.Id, Is.Not.EqualTo(claim.Execution.Id));
            Assert.That(resumed.Execution.StepName, Is.EqualTo("first"));
            Assert.That(resumed.Execution.ScheduledFor, Is.EqualTo(Now));
            Assert.That(resumed.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [TestCase("pause", "Cannot pause a paused workflow")]
    [TestCase("resume", "Cannot resume a ready workflow")]
    public async Task WrongState_ThrowsAndChangesNothing(string operation, string message)
    {
        var created = await StartAsync();
        if (operation == "pause")
        {
            await Store.PauseAsync(created.Workflow.Id);
        }

        var before = await WorkflowAsync(created.Workflow.Id);
        var error = Assert.ThrowsAsync<InvalidWorkflowStateException>(() => operation == "pause"
            ? Store.PauseAsync(created.Workflow.Id)
            : Store.ResumeAsync(created.Workflow.Id))!;

        var after = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.StartWith(message));
            Assert.That(after.State, Is.EqualTo(before.State));
            Assert.That(after.UpdatedAt, Is.EqualTo(before.UpdatedAt));
        });
    }

    [Test]
    public async Task Cancel_CancelsTheWorkflowAndItsScheduledExecution()
    {
        var created = await StartAsync();

        var canceled = await Store.CancelAsync(created.Workflow.Id);

        var execution = await ExecutionAsync(created.FirstExecution!.Id);
        Assert.Multiple(() =>
        {
            Assert.That(canceled.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(canceled.Workflow.TransitionedAt, Is.EqualTo(Now));
            Assert.That(canceled.Ended!.Id, Is.EqualTo(execution.Id));
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(execution.StepOutcome, Is.EqualTo(StepOutcome.Canceled));
            Assert.That(execution.CanceledAt, Is.EqualTo(Now));
        });
    }

    [Test]
    public async Task Cancel_OfAPausedWorkflow_IsAllowed()
    {
        var created = await StartAsync();
        await Store.PauseAsync(created.Workflow.Id);

        Assert.That((await Store.CancelAsync(created.Workflow.Id)).Workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
    }

    [Test]
    public async Task Cancel_OfAFinishedWorkflow_IsRefused()
    {
        var finished = await StartAsync("done", firstStep: null);

        Assert.That(Assert.ThrowsAsync<InvalidWorkflowStateException>(() => Store.CancelAsync(finished.Workflow.Id))!.Message,
            Does.StartWith("Cannot cancel a finished workflow"));
    }

    [Test]
    public async Task Cancel_WhileAStepRuns_IsRecordedAtOnce_TheHeartbeatCarriesIt_AndFinalizeClosesTheAttempt()
    {
        var (performing, claim) = await StartAndClaimAsync("busy");

        var canceled = await Store.CancelAsync(performing.Workflow.Id);
        var news = await Store.HeartbeatAsync(claim.Execution!.Id, performing.Workflow.Id, claim.Execution.LeaseToken!, Lease);
        // The body ignored its token and finished anyway: its result must not advance the workflow.
        var finalize = await Store.FinalizeAsync(claim.Execution.Id, claim.Execution.LeaseToken!, Success("second"));

        var workflow = await WorkflowAsync(performing.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(canceled.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(news?.Text, Does.Contain("was canceled while step execution"), "the heartbeat tells the run to stop");
            Assert.That(news?.Reason, Is.EqualTo(StepStopReason.Canceled));
            Assert.That(finalize.Outcome, Is.EqualTo(FinalizeOutcome.WorkflowChangedOutside));
            Assert.That((await ExecutionAsync(claim.Execution.Id)).ExecutionState, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled), "the late result did not advance it");
            Assert.That(await Store.GetCurrentExecutionAsync(performing.Workflow.Id), Is.Null, "no next step was scheduled");
        });
    }

    [Test]
    public async Task Pause_WhileAStepRuns_StopsIt_AndResumeRunsTheStepAgainOnceItHasStopped()
    {
        var (performing, claim) = await StartAndClaimAsync("busy");

        var paused = await Store.PauseAsync(performing.Workflow.Id);
        var tooEarly = Assert.ThrowsAsync<InvalidWorkflowStateException>(() => Store.ResumeAsync(performing.Workflow.Id))!;
        var news = await Store.HeartbeatAsync(claim.Execution!.Id, performing.Workflow.Id, claim.Execution.LeaseToken!, Lease);
        await Store.FinalizeAsync(claim.Execution.Id, claim.Execution.LeaseToken!,
            GenevaDrive.Execution.StepExecutor.Interrupted("first", "paused").Completion);
        var resumed = await Store.ResumeAsync(performing.Workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(paused.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.Workflow.NextStepName, Is.EqualTo("first"), "paused at the running step");
            Assert.That(paused.Workflow.StateReason, Does.Contain("while step 'first' ran"));
            Assert.That(tooEarly.Message, Does.Contain("has not stopped"));
            Assert.That(news?.Text, Does.Contain("was paused"));
            Assert.That(news?.Reason, Is.EqualTo(StepStopReason.Paused));
            Assert.That(resumed.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
            Assert.That(resumed.Execution!.StepName, Is.EqualTo("first"), "the step runs again as a new attempt");
            Assert.That(resumed.Execution.Id, Is.Not.EqualTo(claim.Execution.Id));
        });
    }

    [Test]
    public async Task Skip_SkipsTheCurrentStep_AndSchedulesTheNextAfterItsWait()
    {
        var created = await StartAsync();

        var skipped = await Store.SkipAsync(created.Workflow.Id, After);

        var old = await ExecutionAsync(created.FirstExecution!.Id);
        Assert.Multiple(() =>
        {
            Assert.That(old.ExecutionState, Is.EqualTo(StepExecutionState.Skipped));
            Assert.That(old.StepOutcome, Is.EqualTo(StepOutcome.Skipped));
            Assert.That(old.SkippedAt, Is.EqualTo(Now));
            Assert.That(skipped.Ended!.Id, Is.EqualTo(old.Id));
            Assert.That(skipped.Execution!.StepName, Is.EqualTo("second"));
            Assert.That(skipped.Execution.ScheduledFor, Is.EqualTo(Now.AddMinutes(30)));
            Assert.That(skipped.Workflow.NextStepName, Is.EqualTo("second"));
            Assert.That(skipped.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task Skip_OfAPausedWorkflow_ResumesItAtTheNextStep()
    {
        var created = await StartAsync();
        await Store.PauseAsync(created.Workflow.Id);

        var skipped = await Store.SkipAsync(created.Workflow.Id, After);

        Assert.Multiple(() =>
        {
            Assert.That(skipped.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
            Assert.That(skipped.Execution!.StepName, Is.EqualTo("second"));
        });
    }

    [Test]
    public async Task Skip_OfTheLastStep_FinishesTheWorkflow()
    {
        var created = await StartAsync(firstStep: "third");

        var skipped = await Store.SkipAsync(created.Workflow.Id, After);

        Assert.Multiple(() =>
        {
            Assert.That(skipped.Execution, Is.Null);
            Assert.That(skipped.Workflow.WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That(skipped.Workflow.NextStepName, Is.Null);
        });
    }

    [Test]
    public async Task Skip_OfACanceledWorkflow_IsRefused()
    {
        var created = await StartAsync();
        await Store.CancelAsync(created.Workflow.Id);

        var error = Assert.ThrowsAsync<InvalidWorkflowStateException>(() => Store.SkipAsync(created.Workflow.Id, After))!;

        Assert.That(error.Message, Does.StartWith("Cannot skip a step of a canceled workflow"));
    }

    [Test]
    public void Control_OfAMissingWorkflow_SaysItDoesNotExist()
    {
        var error = Assert.ThrowsAsync<WorkflowNotFoundException>(() => Store.PauseAsync(424242))!;

        Assert.That(error.Message, Does.StartWith("Workflow 424242 does not exist"));
    }
}
