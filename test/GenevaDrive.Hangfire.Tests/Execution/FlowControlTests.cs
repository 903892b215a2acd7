namespace GenevaDrive.Tests.Execution;

public sealed class FlowControlTests(string database) : EngineTestBase(database)
{
    private async Task<(WorkflowInfo Workflow, GenevaDrive.Testing.StepRunResult Decide)> RunDecideAsync(Func<StepResult> result)
    {
        Probe.Result = result;
        var workflow = await StartAsync<FlowControlWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var decide = (await Host.RunNextStepAsync(workflow.Id))!;
        return (workflow, decide);
    }

    [Test]
    public async Task Cancel_CancelsTheWorkflow_AndRunsNothingMore()
    {
        var (workflow, decide) = await RunDecideAsync(StepResult.Cancel);

        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(decide.Exception, Is.Null);
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(Describe(history), Is.EqualTo("before:Completed/Success, decide:Canceled/Canceled"));
            Assert.That(Probe.Events, Does.Not.Contain("after"));
        });
    }

    [Test]
    public async Task Pause_PausesTheWorkflow_AndResumeRunsTheStepAgain()
    {
        var (workflow, _) = await RunDecideAsync(StepResult.Pause);
        var paused = await WorkflowAsync(workflow.Id);
        Probe.Result = StepResult.Completed;

        await Client.ResumeAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.NextStepName, Is.EqualTo("decide"));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "before", "decide", "decide", "after" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Reattempt_RunsTheSameStepAgainAfterTheWait_WithoutCounting()
    {
        var calls = 0;
        var (workflow, decide) = await RunDecideAsync(() => ++calls < 4 ? StepResult.Reattempt(TimeSpan.FromMinutes(10)) : StepResult.Completed());
        var reattempted = (await HistoryAsync(workflow.Id))[1];

        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(decide.Outcome, Is.EqualTo(StepOutcome.Reattempted));
            Assert.That(reattempted.ReattemptReason, Is.EqualTo("flow_control"));
            Assert.That(history[2].ScheduledFor - history[1].FinishedAt!.Value, Is.EqualTo(TimeSpan.FromMinutes(10)));
            Assert.That(history.Count(e => e.StepName == "decide"), Is.EqualTo(4));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Skip_MovesToTheNextStep()
    {
        var (workflow, decide) = await RunDecideAsync(StepResult.Skip);

        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(decide.Outcome, Is.EqualTo(StepOutcome.Skipped));
            Assert.That(Describe(await HistoryAsync(workflow.Id)), Is.EqualTo("before:Completed/Success, decide:Skipped/Skipped, after:Completed/Success"));
        });
    }

    [Test]
    public async Task Finished_EndsTheWorkflowEarly()
    {
        var (workflow, _) = await RunDecideAsync(StepResult.Finished);

        var more = await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(more, Is.Empty);
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "before", "decide" }));
        });
    }

    [Test]
    public async Task ReattemptingForever_IsStoppedByTheTestGuard()
    {
        var workflow = await StartAsync<ForeverWorkflow>();

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => Host.RunToEndAsync(workflow.Id, maxSteps: 5))!;

        Assert.That(error.Message, Does.Contain("ran 5 steps without ending; last: 'poll'"));
    }
}
