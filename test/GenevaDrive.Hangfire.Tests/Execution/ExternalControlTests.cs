namespace GenevaDrive.Tests.Execution;

public sealed class ExternalControlTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task PauseThenResume_RunsTheScheduledStepAtItsTime()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var second = (await Client.GetCurrentExecutionAsync(workflow.Id))!;

        var paused = await Client.PauseAsync(workflow.Id);
        var whilePaused = await Host.RunExecutionAsync(second.Id);

        Assert.Multiple(() =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(whilePaused.Ran, Is.False, "a job that runs while paused does nothing");
            Assert.That(whilePaused.Text, Does.Contain("is paused"));
        });

        var resumed = await Client.ResumeAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(resumed.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "first:acct-1", "second", "third" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Resume_ReusesTheScheduledExecution_WhenPausedBeforeItsTime()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var second = (await Client.GetCurrentExecutionAsync(workflow.Id))!;

        await Client.PauseAsync(workflow.Id);
        await Client.ResumeAsync(workflow.Id);

        var current = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(() =>
        {
            Assert.That(current.Id, Is.EqualTo(second.Id));
            Assert.That(current.ScheduledFor, Is.EqualTo(second.ScheduledFor));
            Assert.That(Host.DispatchedSteps.Count(d => d.StepExecutionId == second.Id), Is.EqualTo(2), "the job is re-created on resume");
        });
    }

    [TestCase("pause")]
    [TestCase("resume")]
    [TestCase("cancel")]
    [TestCase("skip")]
    public async Task ControlOfAFinishedWorkflow_IsRefused_AndChangesNothing(string operation)
    {
        var workflow = await StartAsync<EmptyWorkflow>();

        var error = Assert.ThrowsAsync<InvalidWorkflowStateException>(() => operation switch
        {
            "pause" => Client.PauseAsync(workflow.Id),
            "resume" => Client.ResumeAsync(workflow.Id),
            "cancel" => Client.CancelAsync(workflow.Id),
            _ => Client.SkipAsync(workflow.Id),
        })!;

        Assert.Multiple(async () =>
        {
            Assert.That(error.Message, Does.Contain("finished workflow"));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Cancel_StopsTheWorkflow_AndItsPendingJobDoesNothing()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var first = (await Client.GetCurrentExecutionAsync(workflow.Id))!;

        var canceled = await Client.CancelAsync(workflow.Id);
        var lateJob = await Host.RunExecutionAsync(first.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(canceled.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(lateJob.Ran, Is.False);
            Assert.That((await HistoryAsync(workflow.Id)).Single().State, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(Probe.Events, Is.Empty);
        });
    }

    [Test]
    public async Task Skip_OfAReadyWorkflow_SchedulesTheNextStepWithItsWait()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        var skipped = await Client.SkipAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(skipped.NextStepName, Is.EqualTo("second"));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "second", "third" }));
            Assert.That(Describe(await HistoryAsync(workflow.Id)), Does.StartWith("first:Skipped/Skipped, second:Completed/Success"));
        });
    }

    [Test]
    public async Task Skip_OfAPausedWorkflow_ResumesAtTheNextStep()
    {
        var workflow = await StartAsync<HookWorkflow>();
        await Host.RunToEndAsync(workflow.Id);

        var skipped = await Client.SkipAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(skipped.State, Is.EqualTo(WorkflowState.Finished), "skipping the last step finishes");
            Assert.That(skipped.NextStepName, Is.Null);
        });
    }
}
