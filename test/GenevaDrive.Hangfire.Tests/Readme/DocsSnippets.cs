// Code shown in docs/*.md that is not in ReadmeUsage.cs, compiled here; ReadmeExampleTests checks each block verbatim.
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Readme;

/// <summary>Lets in signed-in users only (an example for docs/running-on-hangfire.md).</summary>
public sealed class SignedInUsersOnly : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context) => context.GetHttpContext().User.Identity?.IsAuthenticated == true;
}

public static class DocsSnippets
{
    public static WebApplication Dashboard(WebApplicationBuilder builder)
    {
        // README:BEGIN dashboard
        builder.Services.AddAntiforgery();   // the Workflows pages' commands are POST forms checked by antiforgery

        var app = builder.Build();
        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            Authorization = [new SignedInUsersOnly()],   // who may open the dashboard, the Workflows pages included
            IsReadOnlyFunc = context => !context.GetHttpContext().User.IsInRole("operator"),   // no commands for others
        });
        // README:END
        return app;
    }

    public static WebApplication Health(WebApplicationBuilder builder)
    {
        // README:BEGIN health
        builder.Services.AddHealthChecks().AddGenevaDrive(tags: ["ready"]);

        var app = builder.Build();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
        // README:END
        return app;
    }
}

/// <summary>Abstract so that scanning this assembly for workflows skips it; it compiles the blocks of docs/changing-workflows.md.</summary>
public abstract class ChangingWorkflowsSnippets : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // README:BEGIN rename
        steps.Step("charge", ChargeAsync, wait: TimeSpan.FromHours(1));
        steps.Renamed("charge_card", to: "charge");   // rows written by the old build say "charge_card"
        // README:END
    }

    protected void DefineRetirements(WorkflowBuilder steps)
    {
        // README:BEGIN retire
        steps.Step("send_welcome", SendWelcomeAsync);
        steps.Retired("send_survey");                          // continues at the step declared next: "complete"
        steps.Step("complete", CompleteAsync);
        steps.Retired("old_export", continueAt: "complete");   // or name where its workflows go
        steps.Retired("final_ping", finishWorkflow: true);     // a retired last step: its workflows finish
        // README:END
    }

    private Task ChargeAsync(CancellationToken ct) => Task.CompletedTask;

    private Task SendWelcomeAsync(CancellationToken ct) => Task.CompletedTask;

    private Task CompleteAsync(CancellationToken ct) => Task.CompletedTask;
}
