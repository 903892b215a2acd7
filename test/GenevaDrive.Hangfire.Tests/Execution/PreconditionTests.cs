namespace GenevaDrive.Tests.Execution;

public sealed class PreconditionTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task SkipIf_True_SkipsTheStep()
    {
        Probe.SkipCondition = () => true;
        var workflow = await StartAsync<ConditionalWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "last" }));
            Assert.That(Describe(await HistoryAsync(workflow.Id)), Is.EqualTo("maybe:Skipped/Skipped, vip_only:Skipped/Skipped, last:Completed/Success"));
        });
    }

    [Test]
    public async Task OnlyIf_True_RunsTheStep()
    {
        Accounts.Add("vip").Vip = true;
        var workflow = await StartAsync<ConditionalWorkflow>("vip");

        await Host.RunToEndAsync(workflow.Id);

        Assert.That(Probe.Events, Is.EqualTo(new[] { "maybe", "vip_only", "last" }));
    }

    [Test]
    public async Task CancelIf_OnTheHero_CancelsBeforeTheStepRuns()
    {
        Accounts.Add("closing");
        var workflow = await StartAsync<ConditionalWorkflow>("closing");
        (await Accounts.FindAsync("closing"))!.Closed = true;

        var run = await Host.RunNextStepAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(run!.Text, Is.EqualTo("A cancel condition holds; workflow canceled."));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(Probe.Events, Is.Empty);
        });
    }

    [Test]
    public async Task CancelIf_IsCheckedBeforeSkipIf()
    {
        var skipChecked = false;
        Probe.CancelCondition = () => true;
        Probe.SkipCondition = () => skipChecked = true;
        var workflow = await StartAsync<ConditionalWorkflow>();

        await Host.RunNextStepAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(skipChecked, Is.False);
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
        });
    }

    [Test]
    public async Task ExceptionInACondition_GoesThroughThePolicy_AsAPrecondition()
    {
        Probe.SkipCondition = () => throw new InvalidOperationException("flag service down");
        var workflow = await StartAsync<ConditionalWorkflow>();

        var first = await Host.RunNextStepAsync(workflow.Id);
        var reattempt = (await HistoryAsync(workflow.Id))[0];

        Assert.Multiple(() =>
        {
            Assert.That(first!.Outcome, Is.EqualTo(StepOutcome.Reattempted));
            Assert.That(reattempt.ReattemptReason, Is.EqualTo("precondition"));
            Assert.That(Probe.Events, Is.Empty, "the body never ran");
        });
    }

    [Test]
    public async Task PreconditionReattempts_CountTowardTheLimit()
    {
        Probe.SkipCondition = () => throw new InvalidOperationException("flag service down");
        var workflow = await StartAsync<ConditionalWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(history, Has.Count.EqualTo(3), Describe(history));
            Assert.That(history[^1].State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Paused));
        });
    }
}
