namespace GenevaDrive.Tests.Execution;

/// <summary>Reattempts planned by a backoff, on every database.</summary>
public sealed class BackoffEngineTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task ExponentialBackoff_PlansEachReattemptByTheConsecutiveCount_AndTheHistoryShowsWhen()
    {
        Probe.FailTimes("charge", 3);
        var workflow = await StartAsync<BackoffPaymentWorkflow>();

        var runs = await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        var charges = history.Where(h => h.StepName == "charge").ToList();
        var waits = charges.Skip(1).Select((next, i) => next.ScheduledFor - charges[i].FinishedAt!.Value).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(waits, Is.EqualTo(new[] { TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30) }),
                "10 s, 20 s, then capped at 30 s: the planned times are the next attempts' ScheduledFor");
            Assert.That(runs[0].Text, Does.Contain("by exponential(initial 00:00:10, ×2, max 00:00:30)"), "the result names the backoff");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }
}
