using GenevaDrive.Hangfire;
using GenevaDrive.Storage;

namespace GenevaDrive.Tests.Execution;

/// <summary>The heartbeat of a running step, driven by the fake clock.</summary>
public sealed class LeaseTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task LongStepWithALiveHeartbeat_IsNeverTakenOver_EvenPastTwoHours()
    {
        var runtime = Host.Runtime;
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var execution = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Runner.ClaimAsync(execution.Id, "job-1");
        var run = new StepRun(runtime, claim);
        run.Begin("job-1");

        for (var minute = 0; minute < 150; minute++)
        {
            Host.AdvanceTime(TimeSpan.FromMinutes(1));
        }

        var intruder = await runtime.Runner.ClaimAsync(execution.Id, "job-2");
        var reconcile = await runtime.Maintenance.ReconcileAsync();
        run.End(null);

        Assert.Multiple(() =>
        {
            Assert.That(intruder.Outcome, Is.EqualTo(ClaimOutcome.LeaseHeld), intruder.Reason);
            Assert.That(reconcile.ExecutionsRecovered, Is.Zero);
        });
    }

    [Test]
    public async Task WithoutItsHeartbeat_TheSameStepIsRecoveredAfterTheLease()
    {
        var runtime = Host.Runtime;
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
