// This file holds the README's workflow example verbatim; ReadmeExampleTests checks that they match.
namespace GenevaDrive.Tests.Readme;

public sealed record User(string Id, string Email, bool IsDeactivated, bool HasCompletedSetup);

public interface IMailer
{
    Task SendWelcomeAsync(User user, CancellationToken ct);

    Task SendReminderAsync(User user, CancellationToken ct);

    Task SendTipAsync(User user, int number, CancellationToken ct);
}

// README:BEGIN
[WorkflowName("signup")]
public sealed class SignupWorkflow(IMailer mailer) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.CancelIf(() => Hero.IsDeactivated);
        steps.OnException<TimeoutException>(ExceptionPolicy.Reattempt(wait: TimeSpan.FromMinutes(1)));

        steps.Step("send_welcome_email", ct => mailer.SendWelcomeAsync(Hero, ct));
        steps.Step("send_reminder", SendReminderAsync, wait: TimeSpan.FromDays(2),
            onException: ExceptionPolicy.Reattempt(wait: TimeSpan.FromMinutes(5), maxReattempts: 10));

        // Steps generated in a loop: three tips with growing gaps.
        for (var tip = 1; tip <= 3; tip++)
        {
            var number = tip;
            steps.Step($"send_tip_{number}", ct => mailer.SendTipAsync(Hero, number, ct),
                wait: TimeSpan.FromDays(number), skipIf: () => Hero.HasCompletedSetup);
        }

        steps.Step(CompleteOnboardingAsync, wait: TimeSpan.FromDays(7)); // named "CompleteOnboardingAsync"
    }

    private async Task<StepResult> SendReminderAsync(CancellationToken ct)
    {
        if (Hero.HasCompletedSetup)
        {
            return Skip();
        }

        await mailer.SendReminderAsync(Hero, ct);
        return Completed();
    }

    private Task<StepResult> CompleteOnboardingAsync(CancellationToken ct) =>
        Task.FromResult(Hero.HasCompletedSetup ? Completed() : Reattempt(wait: TimeSpan.FromDays(1)));
}
// README:END
