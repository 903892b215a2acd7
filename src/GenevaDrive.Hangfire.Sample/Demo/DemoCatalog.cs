namespace GenevaDrive.Sample.Demo;

/// <summary>The demos the sample starts, at start-up and from its home page.</summary>
internal static class DemoCatalog
{
    public static readonly (string Kind, string Customer)[] AtStartup =
    [
        ("onboarding", "alice"),
        ("payment", "dave-wobbly"),
        ("payment", "erin-flaky"),
        ("trial", "frank-pro"),
        ("trial", "gina"),
        ("subscription", "hank-closed"),
        ("newsletter", "weekly-digest"),
        ("signup", "ivy"),
    ];

    public static async Task<WorkflowInfo> StartAsync(IWorkflowClient workflows, string kind, string customerId)
    {
        var customer = new Customer(customerId);
        return kind switch
        {
            "onboarding" => await workflows.StartOrGetExistingAsync<OnboardingWorkflow>(customer),
            "payment" => await workflows.StartOrGetExistingAsync<PaymentWorkflow>(customer),
            "trial" => await workflows.StartOrGetExistingAsync<TrialWorkflow>(customer),
            "subscription" => await workflows.StartOrGetExistingAsync<SubscriptionWorkflow>(customer),
            "newsletter" => await workflows.StartOrGetExistingAsync<NewsletterWorkflow>(customer),
            "signup" => await workflows.StartOrGetExistingAsync<SignupWorkflow>(customer),
            "billing" => await workflows.StartOrGetExistingAsync<MonthlyBillingWorkflow>(customer),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown demo; use onboarding, payment, trial, subscription, newsletter, signup or billing."),
        };
    }
}
