using GenevaDrive.Testing;
using GenevaDrive.Tests.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Execution;

/// <summary>A step that writes a log line through an injected logger.</summary>
[WorkflowName("logging_step")]
public sealed class LoggingStepWorkflow(ILogger<LoggingStepWorkflow> logger) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("say_hello", () =>
        {
            logger.LogInformation("hello from the step");
            return Task.CompletedTask;
        });
}

/// <summary>
/// The client and test-host surface for code that knows workflow types only at run time, inspects definitions,
/// or re-runs a step in a test; on every database.
/// </summary>
public sealed class ClientApiTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task StartByType_StartsOrReturnsTheOngoingWorkflow_AndRefusesAnUnregisteredType()
    {
        var account = Accounts.Add("by-type");
        var started = await Client.StartAsync(typeof(ThreeStepWorkflow), account);
        var again = await Client.StartOrGetExistingAsync(typeof(ThreeStepWorkflow), account);
        var unregistered = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync(typeof(GenevaDrive.Tests.Server.E2ETracedWorkflow), account));
        var notAWorkflow = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync(typeof(string), account));

        Assert.Multiple(() =>
        {
            Assert.That(started.Name, Is.EqualTo("three_steps"));
            Assert.That(again.Id, Is.EqualTo(started.Id));
            Assert.That(unregistered!.Message, Does.Contain("is not a registered workflow").And.Contain("AddWorkflow<E2ETracedWorkflow>()"));
            Assert.That(notAWorkflow!.Message, Does.Contain("'System.String' is not a workflow class").And.Contain("deriving from Workflow<THero>")
                .And.Not.Contain("AddWorkflow<String>"), "no advice to register a string as a workflow");
        });
    }

    [Test]
    public void Describe_ShowsTheStepsInRunOrder_WithWaitsEventsAndPolicies()
    {
        var confirmation = Client.Describe(typeof(EmailConfirmationWorkflow));
        var threeSteps = Client.Describe("three_steps");
        var unknown = Assert.Throws<ArgumentException>(() => Client.Describe("no_such_workflow"));

        var wait = confirmation.Find("wait_for_email_confirmed")!;
        Assert.Multiple(() =>
        {
            Assert.That(confirmation.Steps.Select(s => s.Name), Is.EqualTo(new[] { "send_link", "wait_for_email_confirmed", "activate" }));
            Assert.That(confirmation.HeroType, Is.EqualTo(typeof(Account)));
            Assert.That((wait.WaitsForEvent, wait.WaitTimeout, wait.OnTimeout), Is.EqualTo(("email_confirmed", (TimeSpan?)TimeSpan.FromDays(3), (WaitTimeout?)WaitTimeout.Cancel)));
            Assert.That(confirmation.NextAfter("send_link")!.Name, Is.EqualTo("wait_for_email_confirmed"));
            Assert.That(confirmation.PreviousBefore("activate")!.Name, Is.EqualTo("wait_for_email_confirmed"));
            Assert.That(confirmation.PreviousBefore("send_link"), Is.Null);
            Assert.That(threeSteps.Steps.Select(s => s.Wait), Is.EqualTo(new TimeSpan?[] { null, TimeSpan.FromHours(2), TimeSpan.FromDays(1) }));
            Assert.That(Client.Describe(typeof(ResumableCounterWorkflow)).Find("count")!.IsResumable, Is.True);
            Assert.That(Client.Describe(typeof(ResumableCounterWorkflow)).Find("count")!.ExceptionPolicy!.Action, Is.EqualTo(ExceptionAction.Reattempt));
            Assert.That(unknown!.Message, Does.Contain("No registered workflow is named 'no_such_workflow'").And.Contain("three_steps"));
        });
    }

    [Test]
    public async Task PreviousStepName_FollowsTheRunOrder()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var atStart = await WorkflowAsync(workflow.Id);
        await Host.RunNextStepAsync(workflow.Id);
        var afterFirst = await WorkflowAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(atStart.PreviousStepName, Is.Null);
            Assert.That(afterFirst.NextStepName, Is.EqualTo("second"));
            Assert.That(afterFirst.PreviousStepName, Is.EqualTo("first"));
            Assert.That((await WorkflowAsync(workflow.Id)).PreviousStepName, Is.Null, "a finished workflow stands at no step");
        });
    }

    [Test]
    public async Task RunStepByName_RunsAnEarlierStepAgain_AndTheWorkflowGoesOnFromThere()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        await Host.RunNextStepAsync(workflow.Id);

        var again = await Host.RunStepAsync(workflow.Id, "first");
        await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(again.StepName, Is.EqualTo("first"));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "first:acct-1", "second", "first:acct-1", "second", "third" }));
            Assert.That(history.Select(h => $"{h.StepName}:{h.Outcome}"), Does.Contain("third:Skipped"), "the scheduled step was skipped to jump");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
            Assert.ThrowsAsync<InvalidOperationException>(() => Host.RunStepAsync(workflow.Id, "first"), "a finished workflow cannot jump");
        });
    }

    [Test]
    public async Task TestHost_RunsStepsInTheSameLogScopeAsHangfire()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = WorkflowTestHost.Create(
            options =>
            {
                Db.ConfigureStorage(options);
                options.AddWorkflow<LoggingStepWorkflow>().AddHero<Account>(a => a.Id, (_, id, _) => Task.FromResult<Account?>(new Account { Id = id }));
            },
            services => services.AddLogging(b => b.AddProvider(logs)));
        var workflow = await host.Client.StartAsync<LoggingStepWorkflow>(new Account { Id = "scoped" });

        await host.RunToEndAsync(workflow.Id);

        var (_, scope) = logs.Entries.Single(e => e.Message == "hello from the step");
        Assert.Multiple(() =>
        {
            Assert.That(scope["WorkflowId"], Is.EqualTo(workflow.Id));
            Assert.That(scope["WorkflowType"], Is.EqualTo("logging_step"));
            Assert.That(scope["StepName"], Is.EqualTo("say_hello"));
            Assert.That(scope["HeroId"], Is.EqualTo("scoped"));
            Assert.That(scope, Does.ContainKey("StepExecutionId").And.ContainKey("HangfireJobId"));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task ControlInsideTheCallersTransaction_CommitsOrRollsBackWithIt(bool commit)
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        WorkflowInfo inside;
        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await using var transaction = await Db.Dialect.BeginTransactionAsync(connection, CancellationToken.None);
            inside = await Client.ControlAsync(workflow.Id, WorkflowCommand.Cancel, connection, transaction);
            if (commit)
            {
                await transaction.CommitAsync();
            }
            else
            {
                await transaction.RollbackAsync();
            }
        }

        Assert.Multiple(async () =>
        {
            Assert.That(inside.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(commit ? WorkflowState.Canceled : WorkflowState.Ready));
        });
    }

    /// <summary>A skip reads and locks the workflow in the caller's transaction, so it sees a workflow started in that same transaction.</summary>
    [Test]
    public async Task SkipInsideTheCallersTransaction_SeesAWorkflowStartedInIt()
    {
        var account = Accounts.Add("skip-in-tx");
        WorkflowInfo started;
        WorkflowInfo skipped;
        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await using var transaction = await Db.Dialect.BeginTransactionAsync(connection, CancellationToken.None);
            started = await Client.StartAsync<ThreeStepWorkflow>(account, connection, transaction);
            skipped = await Client.ControlAsync(started.Id, WorkflowCommand.Skip, connection, transaction);
            await transaction.CommitAsync();
        }

        var history = await HistoryAsync(started.Id);
        Assert.Multiple(() =>
        {
            Assert.That(skipped.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(skipped.NextStepName, Is.EqualTo("second"));
            Assert.That(history.Select(h => (h.StepName, h.State)), Is.EqualTo(new[]
            {
                ("first", StepExecutionState.Skipped), ("second", StepExecutionState.Scheduled),
            }));
        });
    }

    [Test]
    public async Task ResumeInsideTheCallersTransaction_ThenDispatch_RunsTheStep_AndIllegalCommandsAreRefused()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Client.PauseAsync(workflow.Id);
        var dispatchedBefore = Host.DispatchedSteps.Count;

        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await using var transaction = await Db.Dialect.BeginTransactionAsync(connection, CancellationToken.None);
            await Client.ControlAsync(workflow.Id, WorkflowCommand.Resume, connection, transaction);
            Assert.ThrowsAsync<InvalidWorkflowStateException>(() => Client.ControlAsync(workflow.Id, WorkflowCommand.Resume, connection, transaction),
                "the second resume sees the first one's change in the same transaction");
            await transaction.CommitAsync();
        }

        await Client.DispatchAsync(workflow.Id);
        var dispatchedAfter = Host.DispatchedSteps.Count;
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(dispatchedAfter, Is.EqualTo(dispatchedBefore + 1), "the resumed step got a job after the commit");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }
}
