namespace GenevaDrive.Tests.Execution;

/// <summary>The housekeeping scenarios under WorkflowTestHost: no Hangfire server, the fake clock.</summary>
public sealed class TestHostHousekeepingTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task Reconcile_RecoversAStepWhoseWorkerVanished_AfterTheLease_AndTheWorkflowFinishes()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        await Host.Engine.Runtime.Runner.ClaimAsync(execution.Id, "vanished-worker");

        var early = await Host.ReconcileAsync();
        Host.AdvanceTime(Host.Engine.Runtime.Options.LeaseTimeout + TimeSpan.FromSeconds(1));
        var late = await Host.ReconcileAsync();
        var runs = await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(early.StepsRecovered, Is.Zero, "a live lease is left alone");
            Assert.That(late.StepsRecovered, Is.EqualTo(1), late.Text);
            Assert.That(runs.Select(r => r.StepName), Is.EqualTo(new[] { "first", "second", "third" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Reconcile_CountsTheStepsItDispatches()
    {
        // Three due steps without a job (their jobs were never created): the reconciler creates one for each.
        var workflows = new List<WorkflowInfo>();
        for (var i = 0; i < 3; i++)
        {
            workflows.Add(await StartAsync<ThreeStepWorkflow>($"stuck-{i}"));
        }

        var dispatchedBefore = Host.DispatchedSteps.Count;
        Host.AdvanceTime(Host.Engine.Runtime.Options.DispatchGracePeriod + TimeSpan.FromSeconds(1));
        var report = await Host.ReconcileAsync();

        Assert.Multiple(() =>
        {
            Assert.That(Host.DispatchedSteps.Count - dispatchedBefore, Is.EqualTo(3), "three steps dispatched");
            Assert.That(report.JobsCreated, Is.EqualTo(3), "and counted: " + report.Text);
        });
    }

    [Test]
    public async Task RunStepAsync_OnTheScheduledStep_RunsItNow_WithoutMovingTheClock()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var before = Now;

        var run = await Host.RunStepAsync(workflow.Id, "second"); // scheduled two hours from now

        Assert.Multiple(() =>
        {
            Assert.That(run.StepName, Is.EqualTo("second"));
            Assert.That(run.Outcome, Is.EqualTo(StepOutcome.Success), run.Text);
            Assert.That(Now, Is.EqualTo(before), "the wait was skipped, not waited out");
        });
    }

    [Test]
    public async Task Cleanup_DeletesEndedWorkflowsOnlyAfterTheirRetention()
    {
        var finished = await StartAsync<ThreeStepWorkflow>("done");
        await Host.RunToEndAsync(finished.Id);
        var ongoing = await StartAsync<ThreeStepWorkflow>("ongoing");

        var early = await Host.CleanupAsync();
        Host.AdvanceTime(Host.Engine.Runtime.Options.DeleteCompletedWorkflowsAfter!.Value + TimeSpan.FromMinutes(1));
        var late = await Host.CleanupAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(early.WorkflowsDeleted, Is.Zero, "kept for the retention period");
            Assert.That(late.WorkflowsDeleted, Is.EqualTo(1), late.Text);
            Assert.That(late.StepExecutionsDeleted, Is.EqualTo(3));
            Assert.That(await Client.GetAsync(finished.Id), Is.Null);
            Assert.That(await Client.GetAsync(ongoing.Id), Is.Not.Null, "ongoing workflows are never cleaned up");
        });
    }
}
