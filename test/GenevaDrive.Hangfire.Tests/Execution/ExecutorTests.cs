namespace GenevaDrive.Tests.Execution;

public sealed class ExecutorTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task ThreeSteps_RunInOrder_WaitingBetween_AndFinish()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var started = Now;

        var runs = await Host.RunToEndAsync(workflow.Id);

        var finished = await WorkflowAsync(workflow.Id);
        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "first:acct-1", "second", "third" }));
            Assert.That(runs.Select(r => r.Outcome), Is.All.EqualTo(StepOutcome.Success));
            Assert.That(finished.State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(finished.CurrentStepName, Is.Null);
            Assert.That(finished.NextStepName, Is.Null);
            Assert.That(history.Select(e => e.ScheduledFor - started),
                Is.EqualTo(new[] { TimeSpan.Zero, TimeSpan.FromHours(2), TimeSpan.FromHours(2) + TimeSpan.FromDays(1) }));
            Assert.That(Host.DispatchedSteps.Select(d => d.StepName), Is.EqualTo(new[] { "first", "second", "third" }));
        });
    }

    [Test]
    public async Task StepWithAWait_DoesNotRunBeforeItsTime()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);

        var early = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);
        Host.AdvanceTime(TimeSpan.FromHours(2));
        var onTime = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);

        Assert.Multiple(async () =>
        {
            Assert.That(early, Is.Null);
            Assert.That(onTime!.StepName, Is.EqualTo("second"));
            Assert.That((await WorkflowAsync(workflow.Id)).NextStepName, Is.EqualTo("third"));
        });
    }

    [Test]
    public async Task AfterEachStep_PointersShowWhatComesNext()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        var initial = await WorkflowAsync(workflow.Id);
        await Host.RunNextStepAsync(workflow.Id);
        var afterFirst = await WorkflowAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That((initial.State, initial.CurrentStepName, initial.NextStepName), Is.EqualTo((WorkflowState.Ready, (string?)null, "first")));
            Assert.That((afterFirst.State, afterFirst.CurrentStepName, afterFirst.NextStepName), Is.EqualTo((WorkflowState.Ready, (string?)null, "second")));
        });
    }

    [Test]
    public async Task WorkflowWithoutSteps_FinishesAtOnce()
    {
        var workflow = await StartAsync<EmptyWorkflow>();

        Assert.Multiple(async () =>
        {
            Assert.That(workflow.State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(await HistoryAsync(workflow.Id), Is.Empty);
            Assert.That(Host.DispatchedSteps, Is.Empty);
        });
    }

    [Test]
    public async Task DuplicateDelivery_RunsTheBodyOnce()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();
        var first = (await Client.GetCurrentExecutionAsync(workflow.Id))!;

        var run = await Host.RunExecutionAsync(first.Id);
        var duplicate = await Host.RunExecutionAsync(first.Id);

        Assert.Multiple(() =>
        {
            Assert.That(run.Ran, Is.True);
            Assert.That(duplicate.Ran, Is.False);
            Assert.That(duplicate.Text, Is.EqualTo($"Step execution {first.Id} already completed; nothing to run."));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "first:acct-1" }));
        });
    }

    [Test]
    public async Task HeroDeleted_CancelsTheWorkflow()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>("gone");
        Accounts.Delete("gone");

        var run = await Host.RunNextStepAsync(workflow.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(run!.Text, Does.Contain("'gone' no longer exists; workflow canceled"));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(history.Single().State, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(Probe.Events, Is.Empty);
        });
    }

    [Test]
    public async Task HeroDeleted_MayProceedWithoutHero_RunsTheStep()
    {
        var workflow = await StartAsync<HerolessWorkflow>("gone");
        Accounts.Delete("gone");

        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "hero is gone" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Hooks_RunAroundTheBody_AndAfterOnlyWhenItReturned()
    {
        var workflow = await StartAsync<HookWorkflow>();

        await Host.RunToEndAsync(workflow.Id);

        Assert.That(Probe.Events, Is.EqualTo(new[]
        {
            "before works", "around in", "body works", "around out", "after works",
            "before fails", "around in", "body fails",
        }));
    }

    [Test]
    public async Task UnknownWorkflowType_FailsTheStepAndPauses()
    {
        var store = new GenevaDrive.Store.WorkflowStore(Db.Dialect, TimeProvider.System);
        var created = await store.CreateAsync(new GenevaDrive.Store.NewWorkflow("renamed_away", "Account", "acct-1", false, "first", null));

        var run = await Host.RunExecutionAsync(created.FirstExecution!.Id);

        var execution = (await HistoryAsync(created.Workflow.Id)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That(run.Exception, Is.Not.Null);
            Assert.That(execution.State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(execution.ErrorMessage, Does.Contain("Workflow type 'renamed_away' is not registered"));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).State, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task StepNoLongerDefined_FailsWithStepNotDefined_AndPauses()
    {
        var store = new GenevaDrive.Store.WorkflowStore(Db.Dialect, TimeProvider.System);
        Accounts.Add("acct-1");
        var created = await store.CreateAsync(new GenevaDrive.Store.NewWorkflow("three_steps", "GenevaDrive.Tests.Execution.Account", "acct-1", false, "removed_step", null));

        var run = await Host.RunExecutionAsync(created.FirstExecution!.Id);

        var execution = (await HistoryAsync(created.Workflow.Id)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That(run.Exception, Is.TypeOf<StepNotDefinedException>());
            Assert.That(execution.ErrorClassName, Is.EqualTo("GenevaDrive.StepNotDefinedException"));
            Assert.That(execution.ErrorMessage, Does.Contain("has no step named 'removed_step'"));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).State, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task FailedStep_RunAgainLikeADashboardRequeue_RetriesAndContinues()
    {
        var workflow = await StartAsync<HookWorkflow>();
        await Host.RunToEndAsync(workflow.Id);
        var failed = (await HistoryAsync(workflow.Id)).Last();

        var retry = await Host.RunExecutionAsync(failed.Id);

        var history = await HistoryAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(failed.State, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(retry.Ran, Is.True);
            Assert.That(history.Select(e => e.StepName), Is.EqualTo(new[] { "works", "fails", "fails" }));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Paused), "the step fails again, so it pauses again");
            Assert.That(Probe.Events.Count(e => e == "body fails"), Is.EqualTo(2));
        });
    }
}
