using Microsoft.Extensions.Logging;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>Workflows on a real Hangfire BackgroundJobServer, on Hangfire.PostgreSql and on a SQLite-backed setup.</summary>
public sealed class EndToEndTests(string database) : HangfireServerFixture(database)
{
    [Test]
    public async Task ThreeStepWorkflowWithWaits_Completes()
    {
        var workflow = await Server.Client.StartAsync<E2EOnboardingWorkflow>(Accounts.Add("ada"));

        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var history = await Server.Client.GetHistoryAsync(workflow.Id);
        foreach (var execution in history)
        {
            // The outcome is recorded just before Hangfire moves the job to Succeeded.
            await WaitForJobStateAsync(execution.JobId!, SucceededState.StateName);
        }

        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
            Assert.That(history.Select(e => e.Outcome), Is.All.EqualTo(StepOutcome.Success));
            Assert.That(history.Select(e => Server.JobState(e.JobId!).Name), Is.All.EqualTo(SucceededState.StateName));
            Assert.That(history[1].StartedAt - history[0].FinishedAt, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        });
    }

    [Test]
    public async Task FanOut_TwelveChildrenRunAsTheirOwnJobs_AndTheLastOneWakesTheParentOnce()
    {
        var parent = await Server.Client.StartAsync<E2EFanOutWorkflow>(Accounts.Add("fan"));

        await WaitForStateAsync(parent.Id, WorkflowState.Finished);
        var children = await Server.Client.GetChildrenAsync(parent.Id);
        var wakes = (await Server.Client.GetEventsAsync(parent.Id)).Count(e => e.Name == "children:start_all");
        var parentHistory = await Server.Client.GetHistoryAsync(parent.Id);
        Assert.Multiple(() =>
        {
            Assert.That(children, Has.Count.EqualTo(E2EFanOutWorkflow.Children));
            Assert.That(children.Select(c => c.State), Is.All.EqualTo(WorkflowState.Finished));
            Assert.That(children.Select(c => c.HeroId).Distinct().Count(), Is.EqualTo(E2EFanOutWorkflow.Children), "one child per hero");
            Assert.That(Probe.Events.Count(e => e.StartsWith("child:", StringComparison.Ordinal)), Is.EqualTo(E2EFanOutWorkflow.Children),
                "each child ran once");
            Assert.That(Probe.Events, Does.Contain($"summary:{E2EFanOutWorkflow.Children}:{E2EFanOutWorkflow.Children * 6}"));
            Assert.That(wakes, Is.EqualTo(1), "the parent was woken once, by the last child");
            Assert.That(parentHistory.Select(e => $"{e.StepName}:{e.Outcome}"),
                Is.EqualTo(new[] { "start_all:Success", "wait_for_start_all:Success", "summary:Success" }), "no polling runs of the wait");
        });
    }

    [Test]
    public async Task FailingStep_PausesAndFailsItsJob_AndRequeueingTheJobRetriesAndCompletes()
    {
        Probe.FailCharge = true;
        var workflow = await Server.Client.StartAsync<E2EPaymentWorkflow>(Accounts.Add("bob"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Paused);
        var failed = (await Server.Client.GetHistoryAsync(workflow.Id)).Single();
        await WaitForJobStateAsync(failed.JobId!, FailedState.StateName);
        var (_, failedData) = Server.JobState(failed.JobId!);

        Probe.FailCharge = false;
        var requeued = Server.JobClient.Requeue(failed.JobId!);
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        var history = await Server.Client.GetHistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(failed.State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(failed.ErrorClassName, Is.EqualTo("System.Net.Http.HttpRequestException"));
            Assert.That(failedData!["ExceptionType"], Is.EqualTo("System.Net.Http.HttpRequestException"));
            Assert.That(failedData["ExceptionMessage"], Is.EqualTo("card processor said 502"));
            Assert.That(requeued, Is.True);
            Assert.That(history.Select(e => $"{e.StepName}:{e.State}"), Is.EqualTo(new[] { "charge:Failed", "charge:Completed", "receipt:Completed" }));
            Assert.That(history[1].JobId, Is.EqualTo(failed.JobId), "the retry ran inside the requeued job");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "charge", "charge", "receipt" }));
        });
    }

    [Test]
    public async Task StepLogs_CarryTheWorkflowScope()
    {
        var workflow = await Server.Client.StartAsync<E2EPaymentWorkflow>(Accounts.Add("eve"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var charge = (await Server.Client.GetHistoryAsync(workflow.Id))[0];

        var (_, scope) = Logs.Entries.Single(e => e.Message == "charging eve");

        Assert.That(scope, Is.SupersetOf(new Dictionary<string, object?>
        {
            ["WorkflowType"] = "e2e_payment", ["WorkflowId"] = workflow.Id, ["HeroType"] = "GenevaDrive.Tests.Execution.Account",
            ["HeroId"] = "eve", ["StepExecutionId"] = charge.Id, ["StepName"] = "charge", ["HangfireJobId"] = charge.JobId,
        }));
    }

    [Test]
    public async Task RequeueingASucceededStepJob_RunsNothing()
    {
        var workflow = await Server.Client.StartAsync<E2EPaymentWorkflow>(Accounts.Add("cy"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var charge = (await Server.Client.GetHistoryAsync(workflow.Id))[0];

        Server.JobClient.Requeue(charge.JobId!);
        await HangfireTestServer.WaitUntilAsync(() =>
        {
            var (name, data) = Server.JobState(charge.JobId!);
            return Task.FromResult(name == SucceededState.StateName && data!.TryGetValue("Result", out var result) && result.Contains("already completed", StringComparison.Ordinal));
        }, Timeout, "the requeued job to succeed with a reason");

        Assert.Multiple(async () =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "charge", "receipt" }));
            Assert.That(await Server.Client.GetHistoryAsync(workflow.Id), Has.Count.EqualTo(2));
            Assert.That(Server.JobState(charge.JobId!).Data!["Result"], Does.Contain($"Step execution {charge.Id} already completed"));
        });
    }

    [Test]
    public async Task OneExecution_DeliveredToEightConcurrentJobs_RunsItsBodyOnce()
    {
        var workflow = await Server.Client.StartAsync<E2ESlowWorkflow>(Accounts.Add("dee"));
        var execution = (await Server.Client.GetCurrentExecutionAsync(workflow.Id))!;
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref Probe.BodyEntries) == 1), Timeout, "the body to start");

        var method = typeof(WorkflowStepJob).GetMethod(nameof(WorkflowStepJob.RunAsync))!;
        var duplicates = Enumerable.Range(0, 7)
            .Select(_ => Server.JobClient.Create(new Job(typeof(WorkflowStepJob), method, execution.Id, "E2ESlowWorkflow", workflow.Id, "slow", null, CancellationToken.None),
                new EnqueuedState()))
            .ToArray();
        foreach (var jobId in duplicates)
        {
            await WaitForJobStateAsync(jobId, SucceededState.StateName);
        }

        Probe.Gate.SetResult();
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        Assert.Multiple(() =>
        {
            Assert.That(Probe.BodyEntries, Is.EqualTo(1));
            Assert.That(Probe.MaxConcurrent, Is.EqualTo(1));
            Assert.That(duplicates.Select(id => Server.JobState(id).Data!["Result"]), Is.All.Contains("live lease"));
        });
        TestContext.Out.WriteLine($"{Database}: 8 deliveries of step execution {execution.Id}: body entered {Probe.BodyEntries} time(s); 7 jobs succeeded as no-ops");
    }
}
