namespace GenevaDrive.Tests.Execution;

/// <summary>A paused or canceled workflow says why, in words, on every database.</summary>
public sealed class StateReasonTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task PausedByAFailedStep_NamesTheStepItsExecutionItsJobAndTheError()
    {
        Probe.FailTimes("charge", 100);
        var workflow = await StartAsync<PaymentWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var paused = await WorkflowAsync(workflow.Id);
        var last = (await HistoryAsync(workflow.Id))[^1];
        Assert.Multiple(() =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.StateReason, Does.Contain("Step 'charge'").And.Contain($"step execution {last.Id}")
                .And.Contain("TimeoutException").And.Contain("after 3 reattempts"));
            Assert.That(paused.StateReason, Does.Contain($"job {last.JobId}"));
        });
    }

    [Test]
    public async Task PausedAndCanceledFromCode_SaySo_AndResumeClearsTheReason()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        var paused = await Client.PauseAsync(workflow.Id);
        var resumed = await Client.ResumeAsync(workflow.Id);
        var canceled = await Client.CancelAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(paused.StateReason, Does.Contain("Paused through IWorkflowClient.PauseAsync"));
            Assert.That(resumed.StateReason, Is.Null);
            Assert.That(canceled.StateReason, Does.Contain("Canceled through IWorkflowClient.CancelAsync"));
        });
    }

    [Test]
    public async Task PausedByTheStepItself_SaysSo()
    {
        Probe.Result = StepResult.Pause;
        var workflow = await StartAsync<FlowControlWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var paused = await WorkflowAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.StateReason, Does.Contain("paused by the step"));
        });
    }
}
