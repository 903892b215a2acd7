using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>What the browser tests share: a dashboard host, and a step attempt that ends reattempted.</summary>
internal static class DashboardHost
{
    /// <summary>
    /// Starts an ASP.NET Core host with Hangfire's dashboard over its in-memory storage and <see cref="ThreeStepWorkflow"/>
    /// (or the given workflows) registered. No Hangfire server: workflows stay where the test puts them while the browser looks.
    /// </summary>
    /// <param name="db">The workflow database.</param>
    /// <param name="accounts">The heroes.</param>
    /// <param name="options">The dashboard's options.</param>
    /// <param name="useGenevaDrive">False to configure Hangfire as an existing app may: <c>AddHangfire(config => …)</c> without <c>UseGenevaDrive</c>.</param>
    /// <param name="workflows">Registers the workflows instead of <see cref="ThreeStepWorkflow"/>.</param>
    public static async Task<WebApplication> StartAsync(TestDatabase db, AccountDirectory accounts, DashboardOptions options, bool useGenevaDrive = true,
        Action<GenevaDriveOptions>? workflows = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new Probe()).AddSingleton(accounts);
        builder.Services.AddGenevaDrive(o =>
        {
            db.ConfigureStorage(o);
            if (workflows is null)
            {
                o.AddWorkflow<ThreeStepWorkflow>();
            }
            else
            {
                workflows(o);
            }

            o.AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
        });
        if (useGenevaDrive)
        {
            builder.Services.AddHangfire((sp, config) => config.UseInMemoryStorage().UseGenevaDrive(sp));
        }
        else
        {
            builder.Services.AddHangfire(config => config.UseInMemoryStorage());
        }

        var app = builder.Build();
        app.UseHangfireDashboard("/hangfire", options);
        await app.StartAsync();
        return app;
    }

    /// <summary>Claims the workflow's current step for <paramref name="jobId"/> and, unless told to leave it running, ends it reattempted.</summary>
    public static async Task RunCurrentStepAsync(GenevaDrive.Store.WorkflowStore store, long workflowId, string jobId, bool reattempt = true)
    {
        var current = (await store.GetCurrentExecutionAsync(workflowId))!;
        var claim = await store.ClaimAsync(current.Id, jobId, TimeSpan.FromMinutes(5));
        if (reattempt)
        {
            await store.FinalizeAsync(current.Id, claim.Execution!.LeaseToken!, new GenevaDrive.Store.StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Reattempted,
                WorkflowState = WorkflowState.Ready,
                NextStepName = current.StepName,
                Schedule = new GenevaDrive.Store.NextStep(current.StepName, TimeSpan.Zero),
            });
        }
    }
}
