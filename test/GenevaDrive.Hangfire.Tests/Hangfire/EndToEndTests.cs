using Microsoft.Extensions.Logging;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Hangfire;

/// <summary>Workflows on a real Hangfire BackgroundJobServer, on Hangfire.PostgreSql and on a SQLite-backed setup.</summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class EndToEndTests(string database)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    private TestDatabase _db = null!;
    private HangfireTestServer _server = null!;
    private E2EProbe _probe = null!;
    private AccountDirectory _accounts = null!;
    private CapturingLoggerProvider _logs = null!;

    [SetUp]
    public void StartServer()
    {
        _db = TestDatabase.Create(database);
        _probe = new E2EProbe();
        _accounts = new AccountDirectory();
        _logs = new CapturingLoggerProvider();
        _server = HangfireTestServer.Start(database, _db,
            options => options
                .AddWorkflow<E2EOnboardingWorkflow>()
                .AddWorkflow<E2EPaymentWorkflow>()
                .AddWorkflow<E2ESlowWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)),
            services => services.AddSingleton(_probe).AddSingleton(_accounts).AddLogging(b => b.AddProvider(_logs)),
            workers: 10);
    }

    [TearDown]
    public async Task StopServer()
    {
        _probe.Gate.TrySetResult();
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            foreach (var (message, _) in _logs.Entries)
            {
                TestContext.Out.WriteLine(message);
            }
        }

        _logs.Dispose();
        await _server.DisposeAsync();
        await _db.DisposeAsync();
    }

    private Task WaitForStateAsync(long workflowId, WorkflowState state) =>
        HangfireTestServer.WaitUntilAsync(async () => (await _server.Client.GetAsync(workflowId))?.State == state, Timeout,
            $"workflow {workflowId} to be {state}");

    private Task WaitForJobStateAsync(string jobId, string state) =>
        HangfireTestServer.WaitUntilAsync(() => Task.FromResult(_server.JobState(jobId).Name == state), Timeout, $"job {jobId} to be {state}");

    [Test]
    public async Task ThreeStepWorkflowWithWaits_Completes()
    {
        var workflow = await _server.Client.StartAsync<E2EOnboardingWorkflow>(_accounts.Add("ada"));

        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var history = await _server.Client.GetHistoryAsync(workflow.Id);
        foreach (var execution in history)
        {
            // The outcome is recorded just before Hangfire moves the job to Succeeded.
            await WaitForJobStateAsync(execution.JobId!, SucceededState.StateName);
        }

        Assert.Multiple(() =>
        {
            Assert.That(_probe.Events, Is.EqualTo(new[] { "welcome", "nudge", "done" }));
            Assert.That(history.Select(e => e.Outcome), Is.All.EqualTo(StepOutcome.Success));
            Assert.That(history.Select(e => _server.JobState(e.JobId!).Name), Is.All.EqualTo(SucceededState.StateName));
            Assert.That(history[1].StartedAt - history[0].FinishedAt, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        });
    }

    [Test]
    public async Task FailingStep_PausesAndFailsItsJob_AndRequeueingTheJobRetriesAndCompletes()
    {
        _probe.FailCharge = true;
        var workflow = await _server.Client.StartAsync<E2EPaymentWorkflow>(_accounts.Add("bob"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Paused);
        var failed = (await _server.Client.GetHistoryAsync(workflow.Id)).Single();
        await WaitForJobStateAsync(failed.JobId!, FailedState.StateName);
        var (_, failedData) = _server.JobState(failed.JobId!);

        _probe.FailCharge = false;
        var requeued = _server.JobClient.Requeue(failed.JobId!);
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        var history = await _server.Client.GetHistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(failed.State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(failed.ErrorClassName, Is.EqualTo("System.Net.Http.HttpRequestException"));
            Assert.That(failedData!["ExceptionType"], Is.EqualTo("System.Net.Http.HttpRequestException"));
            Assert.That(failedData["ExceptionMessage"], Is.EqualTo("card processor said 502"));
            Assert.That(requeued, Is.True);
            Assert.That(history.Select(e => $"{e.StepName}:{e.State}"), Is.EqualTo(new[] { "charge:Failed", "charge:Completed", "receipt:Completed" }));
            Assert.That(history[1].JobId, Is.EqualTo(failed.JobId), "the retry ran inside the requeued job");
            Assert.That(_probe.Events, Is.EqualTo(new[] { "charge", "charge", "receipt" }));
        });
    }

    [Test]
    public async Task StepLogs_CarryTheWorkflowScope()
    {
        var workflow = await _server.Client.StartAsync<E2EPaymentWorkflow>(_accounts.Add("eve"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var charge = (await _server.Client.GetHistoryAsync(workflow.Id))[0];

        var (_, scope) = _logs.Entries.Single(e => e.Message == "charging eve");

        Assert.That(scope, Is.SupersetOf(new Dictionary<string, object?>
        {
            ["WorkflowType"] = "e2e_payment", ["WorkflowId"] = workflow.Id, ["HeroType"] = "GenevaDrive.Tests.Execution.Account",
            ["HeroId"] = "eve", ["StepExecutionId"] = charge.Id, ["StepName"] = "charge", ["HangfireJobId"] = charge.JobId,
        }));
    }

    [Test]
    public async Task RequeueingASucceededStepJob_RunsNothing()
    {
        var workflow = await _server.Client.StartAsync<E2EPaymentWorkflow>(_accounts.Add("cy"));
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);
        var charge = (await _server.Client.GetHistoryAsync(workflow.Id))[0];

        _server.JobClient.Requeue(charge.JobId!);
        await HangfireTestServer.WaitUntilAsync(() =>
        {
            var (name, data) = _server.JobState(charge.JobId!);
            return Task.FromResult(name == SucceededState.StateName && data!.TryGetValue("Result", out var result) && result.Contains("already completed", StringComparison.Ordinal));
        }, Timeout, "the requeued job to succeed with a reason");

        Assert.Multiple(async () =>
        {
            Assert.That(_probe.Events, Is.EqualTo(new[] { "charge", "receipt" }));
            Assert.That(await _server.Client.GetHistoryAsync(workflow.Id), Has.Count.EqualTo(2));
            Assert.That(_server.JobState(charge.JobId!).Data!["Result"], Does.Contain($"Step execution {charge.Id} already completed"));
        });
    }

    [Test]
    public async Task OneExecution_DeliveredToEightConcurrentJobs_RunsItsBodyOnce()
    {
        var workflow = await _server.Client.StartAsync<E2ESlowWorkflow>(_accounts.Add("dee"));
        var execution = (await _server.Client.GetCurrentExecutionAsync(workflow.Id))!;
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref _probe.BodyEntries) == 1), Timeout, "the body to start");

        var method = typeof(WorkflowStepJob).GetMethod(nameof(WorkflowStepJob.RunAsync))!;
        var duplicates = Enumerable.Range(0, 7)
            .Select(_ => _server.JobClient.Create(new Job(typeof(WorkflowStepJob), method, execution.Id, "E2ESlowWorkflow", workflow.Id, "slow", null, CancellationToken.None),
                new EnqueuedState()))
            .ToArray();
        foreach (var jobId in duplicates)
        {
            await WaitForJobStateAsync(jobId, SucceededState.StateName);
        }

        _probe.Gate.SetResult();
        await WaitForStateAsync(workflow.Id, WorkflowState.Finished);

        Assert.Multiple(() =>
        {
            Assert.That(_probe.BodyEntries, Is.EqualTo(1));
            Assert.That(_probe.MaxConcurrent, Is.EqualTo(1));
            Assert.That(duplicates.Select(id => _server.JobState(id).Data!["Result"]), Is.All.Contains("live lease"));
        });
        TestContext.Out.WriteLine($"{database}: 8 deliveries of step execution {execution.Id}: body entered {_probe.BodyEntries} time(s); 7 jobs succeeded as no-ops");
    }
}
