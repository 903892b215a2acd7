// The usage examples shown in docs/*.md, compiled and run by ReadmeExampleTests; each block is copied verbatim.
using GenevaDrive.Testing;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Readme;

public interface IUserDirectory
{
    Task<User?> FindAsync(string id, CancellationToken ct);
}

public static class ReadmeUsage
{
    public static void Register(IServiceCollection services, string connectionString)
    {
        // README:BEGIN register
        services.AddGenevaDrive(options => options
            .UseSqlite(connectionString)                 // or UsePostgreSql(…) / UseSqlServer(…)
            .AddWorkflowsFromAssembly(typeof(SignupWorkflow).Assembly)
            .AddHero<User>(user => user.Id, (sp, id, ct) => sp.GetRequiredService<IUserDirectory>().FindAsync(id, ct)));

        services.AddHangfire((sp, config) => config
            .UseInMemoryStorage()                        // your Hangfire storage
            .UseGenevaDrive(sp));
        services.AddHangfireServer();
        // README:END
    }

    public static async Task<WorkflowInfo> StartAndControlAsync(IWorkflowClient workflows, User user)
    {
        // README:BEGIN control
        var signup = await workflows.StartAsync<SignupWorkflow>(user);          // WorkflowAlreadyExistsException if one is ongoing
        var same = await workflows.StartOrGetExistingAsync<SignupWorkflow>(user); // or reuse it

        await workflows.PauseAsync(signup.Id);    // ready → paused; the scheduled step waits
        await workflows.ResumeAsync(signup.Id);   // paused → ready; overdue steps run now, future ones on time
        await workflows.SkipAsync(signup.Id);     // skip the current step, schedule the next
        await workflows.JumpToAsync(signup.Id, "send_reminder"); // run any defined step now, earlier or later
        var history = await workflows.GetHistoryAsync(signup.Id);
        // README:END
        return same with { NextStepName = history[^1].StepName };
    }

    public static async Task<WorkflowInfo?> TestAsync(IMailer mailer, User user)
    {
        // README:BEGIN testing
        await using var host = WorkflowTestHost.Create(
            options => options
                .UseSqlite($"Data Source={Path.GetTempFileName()}")
                .AddWorkflow<SignupWorkflow>()
                .AddHero<User>(u => u.Id, (sp, id, ct) => Task.FromResult<User?>(user)),
            services => services.AddSingleton(mailer));

        var workflow = await host.Client.StartAsync<SignupWorkflow>(user);
        await host.RunStepAsync(workflow.Id, "send_welcome_email");   // one step, through claim → run → finalize
        var rest = await host.RunToEndAsync(workflow.Id);             // the fake clock jumps over the waits
        // README:END
        return rest.Count > 0 ? await host.Client.GetAsync(workflow.Id) : null;
    }
}

/// <summary>A card processor that keeps the highest fencing token per order and refuses older ones.</summary>
public interface ICardProcessor
{
    Task ChargeAsync(string orderId, decimal amount, long fencingToken, CancellationToken ct);
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it exists to compile the README block.</summary>
public abstract class FencedChargeWorkflow(ICardProcessor processor) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN fencing
        steps.Step("charge", async ct =>
        {
            // The processor keeps the highest token per order and refuses older ones.
            await processor.ChargeAsync(Hero.Id, amount: 10m, fencingToken: CurrentStep!.FencingToken, ct);
        });
        // README:END
    }
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it exists to compile the README block.</summary>
public abstract class BackoffReadmeWorkflow(ICardProcessor processor) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN backoff
        steps.Step("charge", ct => processor.ChargeAsync(Hero.Id, amount: 10m, fencingToken: CurrentStep!.FencingToken, ct),
            onException: ExceptionPolicy.Reattempt(
                backoff: Backoff.Exponential(initial: TimeSpan.FromSeconds(5), max: TimeSpan.FromHours(1), jitter: true),
                maxReattempts: 20));
        // README:END
    }
}

public sealed record Subscriber(long Id, string Address);

public interface INewsletterSender
{
    IAsyncEnumerable<Subscriber> SubscribersAfterAsync(long afterId, CancellationToken ct);

    Task SendAsync(Subscriber subscriber, CancellationToken ct);
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it exists to compile the README block.</summary>
public abstract class ResumableReadmeWorkflow(INewsletterSender newsletter) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN resumable
        steps.ResumableStep<long>("send_newsletter", (iteration, ct) =>
            // Items after the saved cursor (0 on the first run); the cursor moves to each subscriber's id.
            iteration.ForEachAsync(newsletter.SubscribersAfterAsync(iteration.Cursor, ct), s => s.Id,
                (subscriber, token) => newsletter.SendAsync(subscriber, token), ct),
            maxRunTime: TimeSpan.FromMinutes(5),        // hand the worker back every 5 minutes
            checkpointEvery: TimeSpan.FromSeconds(1),   // save where it stands at most once a second
            onException: ExceptionPolicy.Reattempt(wait: TimeSpan.FromMinutes(1), maxReattempts: 10));
        // README:END
    }
}

public interface IPaymentApi
{
    Task ChargeAsync(string customerId, decimal amount, string idempotencyKey, CancellationToken ct);
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it exists to compile the README block.</summary>
public abstract class IdempotentChargeWorkflow(IPaymentApi payments) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN idempotency
        steps.Step("charge", ct =>
            // Same key for every run of this attempt (a takeover after a crash): the provider charges once.
            payments.ChargeAsync(Hero.Id, 10m, idempotencyKey: CurrentStep!.IdempotencyKey, ct),
            onException: ExceptionPolicy.Reattempt(backoff: Backoff.Exponential(TimeSpan.FromSeconds(5), max: TimeSpan.FromMinutes(5))));
        // README:END
    }
}

public sealed record EmailConfirmed(DateTimeOffset At);

public interface INotifier
{
    Task SendAsync(string email, string text, CancellationToken ct);
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it exists to compile the README block.</summary>
public abstract class ConfirmEmailWorkflow(INotifier mailer) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN events
        steps.Step("send_confirmation_link", ct => mailer.SendAsync(Hero.Email, "Confirm your address", ct));
        steps.WaitFor("email_confirmed", timeout: TimeSpan.FromDays(3), onTimeout: WaitTimeout.Cancel);
        steps.Step("activate", async ct =>
        {
            var confirmed = await ReceivedEventAsync<EmailConfirmed>("email_confirmed", ct);
            await mailer.SendAsync(Hero.Email, $"Welcome! Confirmed at {confirmed!.At:t}", ct);
        });
        // README:END
    }
}

public static class EventsReadmeSender
{
    public static async Task ConfirmAsync(IWorkflowClient workflows, User user, string linkId)
    {
        // README:BEGIN send-event
        // In the controller the confirmation link lands on; linkId makes a double click harmless.
        await workflows.SendEventAsync<ConfirmEmailWorkflow>(user, "email_confirmed", new EmailConfirmed(DateTimeOffset.UtcNow), eventId: linkId);
        // README:END
    }
}
