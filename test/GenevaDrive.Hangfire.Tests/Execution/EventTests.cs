namespace GenevaDrive.Tests.Execution;

/// <summary>
/// Waiting for external events on every database: a waiting step holds no job but the timeout; an event wakes it,
/// one that came early is kept and taken at once, a duplicate is ignored, and the timeout does what it was told.
/// </summary>
public sealed class EventTests(string database) : EngineTestBase(database)
{
    private async Task<WorkflowInfo> StartAndSendLinkAsync()
    {
        var workflow = await StartAsync<EmailConfirmationWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        return workflow;
    }

    [Test]
    public async Task WaitingStep_IsScheduledForItsTimeout_AndTheEventRunsItNow_WithThePayload()
    {
        var workflow = await StartAndSendLinkAsync();
        var waiting = (await Client.GetCurrentExecutionAsync(workflow.Id))!;

        var delivery = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("c0ffee"), eventId: "mail-1");
        var woken = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        var wakeRun = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);
        await Host.RunToEndAsync(workflow.Id);

        var events = await Client.GetEventsAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(waiting.StepName, Is.EqualTo("wait_for_email_confirmed"));
            Assert.That(waiting.ScheduledFor, Is.EqualTo(Now.AddDays(3)), "one job, scheduled for the timeout");
            Assert.That(delivery.Outcome, Is.EqualTo(EventDeliveryOutcome.Delivered));
            Assert.That(delivery.EventId, Is.EqualTo("mail-1"));
            Assert.That(woken.Id, Is.EqualTo(waiting.Id));
            Assert.That(woken.ScheduledFor, Is.LessThanOrEqualTo(Now), "the event made the step due now");
            Assert.That(wakeRun!.Outcome, Is.EqualTo(StepOutcome.Success), wakeRun.Text);
            Assert.That(Probe.Events, Is.EqualTo(new[] { "send_link", "activate:c0ffee" }));
            Assert.That(events.Single().ConsumedByStepExecutionId, Is.EqualTo(waiting.Id));
            Assert.That(events.Single().PayloadJson, Is.EqualTo("{\"Code\":\"c0ffee\"}"));
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    /// <summary>
    /// The race of a timeout and its event: the timeout's run found no event, and the event is sent after that read and
    /// before its finalize (a fault point at the start of finalize sends it). The event is not lost and the timeout
    /// (cancel) does not apply: the step runs again at once, takes the event, and the workflow goes on.
    /// </summary>
    [Test]
    public async Task EventSentWhileItsTimeoutIsApplied_WinsOverTheTimeout_AndIsTakenOnce()
    {
        var workflow = await StartAndSendLinkAsync();
        Host.AdvanceTime(TimeSpan.FromDays(3) + TimeSpan.FromSeconds(1));
        EventDelivery? delivery = null;
        Host.Engine.Runtime.Store.Faults = async point =>
        {
            if (point == "finalize.begin" && delivery is null)
            {
                delivery = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("late"), eventId: "mail-late");
            }
        };

        var timeoutRun = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);
        Host.Engine.Runtime.Store.Faults = null;
        var afterTimeout = await WorkflowAsync(workflow.Id);
        await Host.RunToEndAsync(workflow.Id);

        var events = await Client.GetEventsAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(delivery, Is.Not.Null, "the event was sent between the timeout's read and its finalize");
            Assert.That(timeoutRun!.Text, Does.Contain("came while its timeout was being applied"));
            Assert.That(afterTimeout.State, Is.EqualTo(WorkflowState.Ready), "the timeout's cancel did not apply");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "send_link", "activate:late" }));
            Assert.That(events.Single().ConsumedByStepExecutionId, Is.Not.Null, "the event was taken, not left for a later wait");
            Assert.That((await WorkflowAsync(workflow.Id)).State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task EventBeforeTheWait_IsKept_AndTakenAsSoonAsTheWorkflowGetsThere()
    {
        var workflow = await StartAsync<EmailConfirmationWorkflow>();

        var early = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("early"));
        await Host.RunNextStepAsync(workflow.Id);
        var waiting = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(early.Outcome, Is.EqualTo(EventDeliveryOutcome.Kept));
            Assert.That(waiting.ScheduledFor, Is.LessThanOrEqualTo(Now), "the wait found its event and is due at once");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "send_link", "activate:early" }));
        });
    }

    [Test]
    public async Task DuplicateDelivery_IsIgnored()
    {
        var workflow = await StartAndSendLinkAsync();

        var first = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("one"), eventId: "hook-7");
        var again = await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("two"), eventId: "hook-7");
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(first.Outcome, Is.EqualTo(EventDeliveryOutcome.Delivered));
            Assert.That(again.Outcome, Is.EqualTo(EventDeliveryOutcome.Duplicate));
            Assert.That(await Client.GetEventsAsync(workflow.Id), Has.Count.EqualTo(1));
            Assert.That(Probe.Events.Last(), Is.EqualTo("activate:one"));
        });
    }

    [Test]
    public async Task Timeout_CancelsAsDeclared_AndSaysWhy()
    {
        var workflow = await StartAndSendLinkAsync();

        var run = await Host.RunNextStepAsync(workflow.Id);

        var after = await WorkflowAsync(workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(run!.Outcome, Is.EqualTo(StepOutcome.Canceled));
            Assert.That(after.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(after.StateReason, Does.Contain("No 'email_confirmed' event came by"));
            Assert.That(Probe.Events, Does.Not.Contain("activate:none"));
            Assert.That((await Client.SendEventAsync(workflow.Id, "email_confirmed")).Outcome, Is.EqualTo(EventDeliveryOutcome.WorkflowEnded));
        });
    }

    [Test]
    public async Task TimeoutThatPauses_ResumeWaitsAgainForTheFullTimeout_AndALateEventStillRunsIt()
    {
        var workflow = await StartAsync<ApprovalWorkflow>();
        await Host.RunNextStepAsync(workflow.Id);
        var paused = await WorkflowAsync(workflow.Id);

        await Client.ResumeAsync(workflow.Id);
        var rearm = await Host.RunNextStepAsync(workflow.Id, advanceClock: false);
        var waitingAgain = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        await Client.SendEventAsync(workflow.Id, "approved", "by ops");
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused));
            Assert.That(paused.StateReason, Does.Contain("Resume waits again"));
            Assert.That(rearm!.Outcome, Is.EqualTo(StepOutcome.Rescheduled), rearm.Text);
            Assert.That(waitingAgain.ScheduledFor, Is.EqualTo(Now.AddHours(1)), "armed anew for the full timeout");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "ship:by ops" }));
        });
    }

    [Test]
    public async Task StepResultWaitFor_GatesTheNextStep_WhichRunsWithTheEventOrWithoutItOnTimeout()
    {
        var answered = await StartAsync<GatedByResultWorkflow>("acct-1");
        var unanswered = await StartAsync<GatedByResultWorkflow>("acct-2");
        await Host.RunNextStepAsync(answered.Id);
        await Host.RunNextStepAsync(unanswered.Id);
        var gated = (await Client.GetCurrentExecutionAsync(answered.Id))!;
        var askedAt = Now;

        await Client.SendEventAsync(answered.Id, "answer", "yes");
        await Host.RunNextStepAsync(answered.Id, advanceClock: false);
        await Host.RunToEndAsync(unanswered.Id);

        Assert.Multiple(() =>
        {
            Assert.That(gated.StepName, Is.EqualTo("proceed"));
            Assert.That(gated.ScheduledFor, Is.EqualTo(askedAt.AddHours(2)), "the next step waits up to two hours");
            Assert.That(Probe.Events, Is.EqualTo(new[] { "proceed:yes", "proceed:none" }));
        });
    }

    [Test]
    public async Task ByHero_ReachesTheHerosOngoingWorkflowOfThatType()
    {
        var workflow = await StartAndSendLinkAsync();
        var account = (await Accounts.FindAsync("acct-1"))!;

        var deliveries = await Client.SendEventAsync<EmailConfirmationWorkflow>(account, "email_confirmed", new Confirmation("hero"));
        var none = await Client.SendEventAsync<ApprovalWorkflow>(account, "approved");
        await Host.RunToEndAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(deliveries.Select(d => (d.WorkflowId, d.Outcome)), Is.EqualTo(new[] { (workflow.Id, EventDeliveryOutcome.Delivered) }));
            Assert.That(none, Is.Empty);
            Assert.That(Probe.Events.Last(), Is.EqualTo("activate:hero"));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task InsideTheCallersTransaction_TheEventCountsOnlyIfTheCallerCommits(bool commit)
    {
        var workflow = await StartAndSendLinkAsync();

        await using (var connection = Db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            await using var transaction = await Db.Dialect.BeginTransactionAsync(connection, CancellationToken.None);
            await Client.SendEventAsync(workflow.Id, "email_confirmed", new Confirmation("tx"), null, connection, transaction);
            if (commit)
            {
                await transaction.CommitAsync();
            }
            else
            {
                await transaction.RollbackAsync();
            }
        }

        var current = (await Client.GetCurrentExecutionAsync(workflow.Id))!;
        Assert.Multiple(async () =>
        {
            Assert.That(await Client.GetEventsAsync(workflow.Id), Has.Count.EqualTo(commit ? 1 : 0));
            Assert.That(current.ScheduledFor, commit ? Is.LessThanOrEqualTo(Now) : Is.EqualTo(Now.AddDays(3)));
        });
    }

    [Test]
    public void BadEventNamesAndIds_AreRefusedWithTheRule()
    {
        var name = Assert.ThrowsAsync<ArgumentException>(() => Client.SendEventAsync(1, " padded "));
        var id = Assert.ThrowsAsync<ArgumentException>(() => Client.SendEventAsync(1, "ok", eventId: new string('x', 201)));
        var declared = Assert.Throws<StepConfigurationException>(() =>
            Tests.Definition.Definitions.Of(s => s.WaitFor("confirmed", TimeSpan.Zero)));

        Assert.Multiple(() =>
        {
            Assert.That(name!.Message, Does.Contain("starts or ends with white space"));
            Assert.That(id!.Message, Does.Contain("must be 1-200 characters"));
            Assert.That(declared!.Message, Does.Contain("step 'wait_for_confirmed'").And.Contain("timeout is 00:00:00, which is not positive"));
        });
    }
}
