// The README's usage examples, compiled and run by ReadmeExampleTests; each block is copied verbatim.
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
