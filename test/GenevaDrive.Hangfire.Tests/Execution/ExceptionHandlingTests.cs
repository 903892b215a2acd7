namespace GenevaDrive.Tests.Execution;

public sealed class ExceptionHandlingTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task Reattempt_UnderTheLimit_RecordsTheExceptionAndRetriesAfterTheWait()
    {
        Probe.FailTimes("charge", 2);
        var workflow = await StartAsync<PaymentWorkflow>();

        var runs = await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(runs.Select(r => r.Outcome), Is.EqualTo(new StepOutcome?[] { StepOutcome.Reattempted, StepOutcome.Reattempted, StepOutcome.Success, StepOutcome.Success }));
            Assert.That(runs[0].Text, Does.StartWith("Reattempt 1/3 scheduled for").And.EndWith("after TimeoutException"));
            Assert.That(runs[0].Exception, Is.Null, "a handled exception does not fail the job");
            Assert.That(history[0].ReattemptReason, Is.EqualTo("exception_policy"));
            Assert.That(history[1].ScheduledFor - history[0].FinishedAt!.Value, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Reattempt_AtTheLimit_FailsTheStepAndPauses()
    {
        Probe.FailTimes("charge", 100);
        var workflow = await StartAsync<PaymentWorkflow>();

        var runs = await Host.RunToEndAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        var last = history[^1];
        Assert.Multiple(async () =>
        {
            Assert.That(history, Has.Count.EqualTo(PaymentWorkflow.MaxReattempts + 1));
            Assert.That(last.State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(last.Outcome, Is.EqualTo(StepOutcome.Failed));
            Assert.That(last.ErrorClassName, Is.EqualTo("System.TimeoutException"));
            Assert.That(last.ErrorMessage, Is.EqualTo("charge timed out"), "the exception's own message, not altered by the count");
            Assert.That(runs[^1].Text, Does.Contain("after 3 reattempts"), "the count is told in the job's result");
            Assert.That(history.Take(history.Count - 1).Select(h => (h.Outcome, h.ErrorClassName, h.ErrorMessage)),
                Has.All.EqualTo((StepOutcome.Reattempted, "System.TimeoutException", "charge timed out")),
                "every reattempted attempt shows the exception that ended it");
            Assert.That(runs[^1].Exception, Is.TypeOf<TimeoutException>(), "the job of the last attempt fails");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(await Client.GetCurrentExecutionAsync(workflow.Id), Is.Null);
        });
    }

    [Test]
    public async Task Reattempt_WithCancelAsTerminalAction_CancelsAtTheLimit()
    {
        Probe.FailTimes("charge", 100);
        var workflow = await StartAsync<CancelAfterRetriesWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        var last = (await HistoryAsync(workflow.Id))[^1];
        Assert.Multiple(async () =>
        {
            Assert.That(await HistoryAsync(workflow.Id), Has.Count.EqualTo(3));
            Assert.That((last.State, last.Outcome), Is.EqualTo((StepExecutionState.Failed, (StepOutcome?)StepOutcome.Canceled)));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
        });
    }

    [Test]
    public async Task ResumingAfterTheLimit_StartsANewCount()
    {
        Probe.FailTimes("charge", 4);
        var workflow = await StartAsync<PaymentWorkflow>();
        await Host.RunToEndAsync(workflow.Id);

        await Client.ResumeAsync(workflow.Id);
        var afterResume = await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(afterResume[0].Outcome, Is.EqualTo(StepOutcome.Success));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task WorkflowLevelPolicies_Apply_SpecificBeforeBlanket()
    {
        var workflow = await StartAsync<PolicyWorkflow>();

        var runs = new List<GenevaDrive.Testing.StepRunResult>();
        for (var i = 0; i < 3; i++)
        {
            runs.Add((await Host.RunNextStepAsync(workflow.Id))!);
        }

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(runs[0].Text, Does.StartWith("Skipped after TimeoutException"));
            Assert.That(history[0].State, Is.EqualTo(StepExecutionState.Skipped));
            Assert.That(runs[1].Outcome, Is.EqualTo(StepOutcome.Reattempted), "the step's handler decided");
            Assert.That(history[1].ReattemptReason, Is.EqualTo("exception_policy"));
            Assert.That(history[2].StepName, Is.EqualTo("handled"));
        });
        Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Ready));
    }

    [Test]
    public async Task BlanketCancelPolicy_CancelsWithTheErrorRecorded()
    {
        var store = new GenevaDrive.Store.WorkflowStore(Db.Dialect, TimeProvider.System);
        Accounts.Add("acct-1");
        var created = await store.CreateAsync(new GenevaDrive.Store.NewWorkflow("policies", "GenevaDrive.Tests.Execution.Account", "acct-1", false, "boom", null));

        var run = await Host.RunExecutionAsync(created.FirstExecution!.Id);

        var execution = (await HistoryAsync(created.Workflow.Id)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That(run.Exception, Is.TypeOf<ArgumentException>());
            Assert.That((execution.State, execution.Outcome), Is.EqualTo((StepExecutionState.Failed, (StepOutcome?)StepOutcome.Canceled)));
            Assert.That(execution.ErrorMessage, Is.EqualTo("boom"));
            Assert.That(execution.ErrorBacktrace, Does.Contain("System.ArgumentException: boom"));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
        });
    }

    [Test]
    public async Task HandlerReturningNothing_FailsAndPauses()
    {
        var workflow = await StartAsync<HandlerGivesUpWorkflow>();

        var run = await Host.RunNextStepAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(run!.Exception, Is.TypeOf<InvalidDataException>());
            Assert.That((await HistoryAsync(workflow.Id)).Single().Outcome, Is.EqualTo(StepOutcome.Failed));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task DefaultPolicy_PausesAndFailsTheJob()
    {
        var workflow = await StartAsync<HookWorkflow>();

        var runs = await Host.RunToEndAsync(workflow.Id);

        var failed = (await HistoryAsync(workflow.Id))[^1];
        Assert.Multiple(async () =>
        {
            Assert.That(runs[^1].Exception, Is.TypeOf<InvalidOperationException>());
            Assert.That(runs[^1].Text, Is.EqualTo("InvalidOperationException; workflow paused"));
            Assert.That((failed.State, failed.Outcome), Is.EqualTo((StepExecutionState.Failed, (StepOutcome?)StepOutcome.Failed)));
            Assert.That(failed.FinishedAt, Is.Not.Null);
            Assert.That((await WorkflowAsync(workflow.Id)).NextStepName, Is.EqualTo("fails"));
        });
    }
}
