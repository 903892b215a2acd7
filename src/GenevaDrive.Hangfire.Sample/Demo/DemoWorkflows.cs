using System.Globalization;

namespace GenevaDrive.Sample.Demo;

/// <summary>Welcomes a new customer, nudges them to fill in their profile, then checks in.</summary>
[WorkflowName("onboarding")]
internal sealed class OnboardingWorkflow(DemoMailer mailer) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("send_welcome", ct => mailer.SendAsync(Hero, "Welcome aboard!", ct));
        steps.Step("suggest_profile", ct => mailer.SendAsync(Hero, "Tell us about yourself", ct), wait: TimeSpan.FromSeconds(5));
        steps.Step("check_in", ct => mailer.SendAsync(Hero, "How is it going?", ct), wait: TimeSpan.FromSeconds(10));
    }
}

/// <summary>Charges a card through a flaky gateway: a few reattempts, then the workflow pauses for a human.</summary>
[WorkflowName("payment")]
internal sealed class PaymentWorkflow(FlakyPaymentGateway gateway, DemoMailer mailer) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.UseQueue("critical");
        // The key is the same for every run of one attempt (a takeover after a crash), so the processor charges once.
        steps.Step("charge_card", ct => gateway.ChargeAsync(Hero, 49.00m, CurrentStep!.IdempotencyKey, ct),
            onException: ExceptionPolicy.Reattempt(wait: TimeSpan.FromSeconds(3), maxReattempts: 3));
        steps.Step("send_receipt", ct => mailer.SendAsync(Hero, "Your receipt", ct));
    }
}

/// <summary>A trial that reminds the customer to upgrade, unless they already did (a skip condition).</summary>
[WorkflowName("trial")]
internal sealed class TrialWorkflow(DemoMailer mailer) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("start_trial", ct => mailer.SendAsync(Hero, "Your trial has started", ct));
        steps.Step("remind_to_upgrade", ct => mailer.SendAsync(Hero, "Upgrade before your trial ends", ct),
            wait: TimeSpan.FromSeconds(5), skipIf: () => Hero.IsPro);
        steps.Step("end_trial", ct => mailer.SendAsync(Hero, "Your trial has ended", ct), wait: TimeSpan.FromSeconds(5));
    }
}

/// <summary>Bills a subscription until the customer closes their account (a cancel condition).</summary>
[WorkflowName("subscription")]
internal sealed class SubscriptionWorkflow(DemoMailer mailer) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.CancelIf(() => Hero.IsClosed);
        steps.Step("bill", ct => mailer.SendAsync(Hero, "Invoice", ct));
        steps.Step("renew", ct => mailer.SendAsync(Hero, "Renewed for another month", ct), wait: TimeSpan.FromSeconds(10));
    }
}

/// <summary>
/// Sends an issue to every subscriber in a resumable step: it saves where it stands at least every second and
/// yields its worker every 5 seconds, so a deploy, a pause or a <c>kill -9</c> of the sample resumes from the
/// last checkpoint instead of mailing everyone again. Lists whose id starts with "big" send slowly (about a
/// minute), long enough to kill the sample mid-way and watch it continue after a restart.
/// </summary>
[WorkflowName("newsletter")]
internal sealed class NewsletterWorkflow(SubscriberList subscribers, ILogger<NewsletterWorkflow> logger) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<int>("send_issue", async (iteration, ct) =>
        {
            if (iteration.Resumed)
            {
                logger.LogInformation("Newsletter {List}: resuming after subscriber {Index}", Hero.Id, iteration.Cursor);
            }

            var pause = Hero.Id.StartsWith("big", StringComparison.Ordinal) ? TimeSpan.FromMilliseconds(20) : TimeSpan.FromMilliseconds(1);
            await iteration.ForEachAsync(subscribers.After(iteration.Cursor, ct), s => s.Index, async (subscriber, token) =>
            {
                await Task.Delay(pause, token); // the mail provider's API call
                if (subscriber.Index % 500 == 0)
                {
                    logger.LogInformation("Newsletter {List}: sent to {Index} of {Count}", Hero.Id, subscriber.Index, SubscriberList.Count);
                }
            }, ct);
        }, maxRunTime: TimeSpan.FromSeconds(5));
        steps.Step("report", () =>
        {
            logger.LogInformation("Newsletter {List}: sent to all {Count} subscribers", Hero.Id, SubscriberList.Count);
            return Task.CompletedTask;
        });
    }
}

/// <summary>What the confirmation link carries.</summary>
internal sealed record EmailConfirmed(DateTimeOffset At);

/// <summary>
/// A signup that mails a confirmation link and waits for the customer to click it (an external event sent by the
/// home page's "Confirm e-mail" form): the account is activated with the time of the click, or the signup is
/// canceled when no click came within 10 minutes. While it waits, no Hangfire job polls.
/// </summary>
[WorkflowName("signup")]
internal sealed class SignupWorkflow(DemoMailer mailer) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("send_confirmation_link", ct => mailer.SendAsync(Hero, "Confirm your e-mail address", ct));
        steps.WaitFor("email_confirmed", timeout: TimeSpan.FromMinutes(10), onTimeout: WaitTimeout.Cancel);
        steps.Step("activate_account", async ct =>
        {
            var confirmed = await ReceivedEventAsync<EmailConfirmed>("email_confirmed", ct);
            await mailer.SendAsync(Hero, $"Welcome! Your e-mail was confirmed at {confirmed?.At:HH:mm:ss}", ct);
        });
    }
}

/// <summary>
/// One invoice of a monthly bill, a child of <see cref="MonthlyBillingWorkflow"/>: issues it, records its amount for the
/// parent to read, and mails it to the account.
/// </summary>
[WorkflowName("invoice")]
internal sealed class InvoiceWorkflow(DemoMailer mailer, ILogger<InvoiceWorkflow> logger) : Workflow<Invoice>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("issue_invoice", async ct =>
        {
            logger.LogInformation("Invoice {Invoice} issued: {Amount} EUR", Hero.Id, Hero.Amount.ToString("0.00", CultureInfo.InvariantCulture));
            await RecordResultAsync(Hero.Amount, ct);
        });
        steps.Step("send_invoice", ct => mailer.SendAsync(new Customer(Hero.Account), $"Invoice {Hero.Number} of {Hero.Amount:0.00} EUR", ct));
    }
}

/// <summary>
/// A month's billing of an account, fanned out: one child <see cref="InvoiceWorkflow"/> per line of the bill (25, started
/// 10 to a transaction, each batch a checkpoint), a wait for all of them (no job polls: the last invoice to finish wakes the
/// parent; after 10 minutes without them the billing pauses for a person), then a statement summed from the invoices'
/// recorded amounts. The dashboard shows each invoice as its own workflow, with its parent.
/// </summary>
[WorkflowName("monthly_billing")]
internal sealed class MonthlyBillingWorkflow(DemoMailer mailer, ILogger<MonthlyBillingWorkflow> logger) : Workflow<Customer>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.StartChildren<InvoiceWorkflow, Invoice>("issue_invoices", _ => Invoice.LinesOf(Hero), batchSize: 10);
        steps.WaitForChildren(ChildrenWait.All, TimeSpan.FromMinutes(10), WaitTimeout.Pause, onChildPaused: ChildTrouble.PauseParent);
        steps.Step("send_statement", async ct =>
        {
            var invoices = await ChildrenAsync("issue_invoices", ct);
            var issued = invoices.Where(i => i.State == WorkflowState.Finished).ToList();
            var total = issued.Sum(i => i.Result<decimal>()).ToString("0.00", CultureInfo.InvariantCulture);
            logger.LogInformation("Monthly billing {Account}: {Issued} of {Count} invoices issued, total {Total} EUR", Hero.Id, issued.Count, invoices.Count, total);
            await mailer.SendAsync(Hero, $"Your monthly statement: {issued.Count} invoices, {total} EUR", ct);
        });
    }
}
