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
        steps.Step("charge_card", ct => gateway.ChargeAsync(Hero, 49.00m, ct),
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
