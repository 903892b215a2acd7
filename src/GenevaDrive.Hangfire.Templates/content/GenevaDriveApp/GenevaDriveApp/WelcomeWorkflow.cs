using GenevaDrive;

namespace GenevaDriveApp;

/// <summary>
/// Welcomes a new user, sends a tip half a minute later (tried again with a growing backoff if it fails), and checks in
/// two minutes after that unless the user has finished setting up. Each step is one Hangfire job; the workflow and each
/// attempt are rows in workflows.db, shown under Workflows in the dashboard.
/// </summary>
[WorkflowName("welcome")]
public sealed class WelcomeWorkflow(ILogger<WelcomeWorkflow> logger) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("send_welcome", () =>
        {
            logger.LogInformation("Welcome, {User}!", Hero.Id);
            return Task.CompletedTask;
        });

        steps.Step("send_tip", () =>
            {
                logger.LogInformation("A tip for {User}: workflows survive restarts.", Hero.Id);
                return Task.CompletedTask;
            },
            wait: TimeSpan.FromSeconds(30),
            onException: ExceptionPolicy.Reattempt(Backoff.Exponential(initial: TimeSpan.FromSeconds(5), max: TimeSpan.FromMinutes(1)), maxReattempts: 5));

        steps.Step("check_in", () =>
            {
                logger.LogInformation("Checking in on {User}.", Hero.Id);
                return Task.CompletedTask;
            },
            wait: TimeSpan.FromMinutes(2), skipIf: () => Hero.HasFinishedSetup);
    }
}
