using GenevaDrive.Logging;
using GenevaDrive.Server;
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.Extensions.Logging;
using GenevaDrive.Registration;

namespace GenevaDrive.Dashboard;

/// <summary>
/// Adds the Workflows pages, commands, navigation item, metrics and step-job links to Hangfire's dashboard.
/// Hangfire's routes are process-wide, so they are added once; each request is served by the runtime of the
/// dashboard's own storage (<see cref="RuntimeDirectory"/>), so several hosts in one process each see their own.
/// </summary>
internal static class GenevaDriveDashboard
{
    private static readonly object Gate = new();
    private static bool s_installed;

    private static GenevaDriveRuntime RuntimeFor(JobStorage storage) =>
        RuntimeDirectory.Find(storage) ?? throw new InvalidOperationException(
            "This Hangfire dashboard's storage has no GenevaDrive configuration: call UseGenevaDrive on the Hangfire configuration that uses this storage.");

    /// <summary>How often <see cref="Install"/> was called (a test seam: the routes themselves are process-wide and added once).</summary>
    internal static int InstallCalls;

    /// <summary>
    /// Adds the pages once per process. Called by <c>UseGenevaDrive</c> and again by every runtime's start-up, so the
    /// Workflows pages appear whichever way Hangfire was configured (<c>AddHangfire</c> without <c>UseGenevaDrive</c> included).
    /// </summary>
    public static void Install(IGlobalConfiguration configuration)
    {
        Interlocked.Increment(ref InstallCalls);
        lock (Gate)
        {
            if (s_installed)
            {
                return;
            }

            s_installed = true;
            DashboardRoutes.Routes.AddRazorPage("/genevadrive/workflows", _ => new WorkflowsPage(RuntimeFor));
            // The section's own root shows the list too (Hangfire's dispatchers cannot redirect).
            DashboardRoutes.Routes.AddRazorPage("/genevadrive/?", _ => new WorkflowsPage(RuntimeFor));
            // An id too large for a long names no workflow: the page says so (404), it does not fail.
            DashboardRoutes.Routes.AddRazorPage("/genevadrive/workflows/(?<id>\\d+)", match => new WorkflowPage(RuntimeFor,
                long.TryParse(match.Groups["id"].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : -1));
            DashboardRoutes.Routes.AddCommand("/genevadrive/workflows/(?<id>\\d+)/(?<action>pause|resume|cancel|skip|jump)", Command);
            DashboardRoutes.Routes.AddCommand("/genevadrive/workflows/bulk", context => BulkActions.Apply(context, RuntimeFor(context.Storage)));
            DashboardRoutes.Routes.AddCommand("/genevadrive/workflows/(?<id>\\d+)/event", DeliverEvent);
            // Last, since Hangfire takes the first route that matches (the commands above included): any other address of a
            // workflow gets the same friendly "not found" page (404), not an empty answer.
            DashboardRoutes.Routes.AddRazorPage("/genevadrive/workflows/(?<id>[^/]+)", _ => new WorkflowPage(RuntimeFor, -1));

            var metrics = Enum.GetValues<WorkflowState>().Select(state => new DashboardMetric(
                $"genevadrive:{state.ToString().ToLowerInvariant()}", $"{state} workflows",
                page => new Metric(Count(page.Storage, state)) { Style = state == WorkflowState.Paused ? MetricStyle.Danger : MetricStyle.Default })).ToArray();
            foreach (var metric in metrics)
            {
                DashboardMetrics.AddMetric(metric);
            }

            NavigationMenu.Items.Add(page => new MenuItem("Workflows", page.Url.To("/genevadrive/workflows"))
            {
                Active = page.RequestPath.StartsWith("/genevadrive/workflows", StringComparison.Ordinal),
                Metrics = [metrics[(int)WorkflowState.Paused]],
            });
            configuration.UseJobDetailsRenderer(10, RenderStepJobLink);
        }
    }

    // The navigation badge (paused workflows, the ones that need an operator) is one indexed count of that state, always
    // live; the other metrics come from the dashboard's counts (cached with the list's pills on a large store).
    private static long Count(JobStorage storage, WorkflowState state) => state == WorkflowState.Paused
        ? RuntimeFor(storage).Store.CountInStateAsync(state).GetAwaiter().GetResult()
        : RuntimeFor(storage).Counts.GetAsync().GetAwaiter().GetResult().ByState()[state];

    private static bool Command(DashboardContext context)
    {
        if (!long.TryParse(context.UriMatch.Groups["id"].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var runtime = RuntimeFor(context.Storage);
        var action = context.UriMatch.Groups["action"].Value;
        var step = action == "jump" ? context.Request.GetFormValuesAsync("step").GetAwaiter().GetResult().FirstOrDefault()?.Trim() : null;
        if (Apply(runtime, id, action, step, DashboardActor.Of(context)) is { } refusal)
        {
            // The 422 answer has no body; the page the operator returns to shows why.
            runtime.Refusals.Record(id, action, refusal);
            return false;
        }

        return true;
    }

    /// <summary>Applies one operator command to one workflow, recorded as <paramref name="actor"/>'s; the refusal's reason, or null when applied.</summary>
    internal static string? Apply(GenevaDriveRuntime runtime, long id, string action, string? step, string actor)
    {
        var client = (Client.WorkflowClient)runtime.Client;
        try
        {
            var task = action switch
            {
                "pause" => client.PauseAsync(id, actor, CancellationToken.None),
                "resume" => client.ResumeAsync(id, actor, CancellationToken.None),
                "cancel" => client.CancelAsync(id, actor, CancellationToken.None),
                "jump" => client.JumpToAsync(id, step ?? string.Empty, actor, CancellationToken.None),
                _ => client.SkipAsync(id, actor, CancellationToken.None),
            };
            var workflow = task.GetAwaiter().GetResult();
            DashboardLog.CommandApplied(runtime.DashboardLogger, id, workflow.State, $"{action}{(step is null ? "" : " to " + step)} by {actor}");
            return null;
        }
        catch (Exception e) when (e is InvalidWorkflowStateException or WorkflowNotFoundException or StepNotDefinedException or ArgumentException)
        {
            DashboardLog.CommandRefused(runtime.DashboardLogger, action, id, e.Message);
            return e.Message;
        }
    }

    /// <summary>
    /// An operator delivers an event (form fields <c>name</c> and <c>payload</c>: JSON, or plain text taken as a
    /// string), as <see cref="IWorkflowClient.SendEventAsync(long, string, object?, string?, CancellationToken)"/> does.
    /// </summary>
    private static bool DeliverEvent(DashboardContext context)
    {
        if (!long.TryParse(context.UriMatch.Groups["id"].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var runtime = RuntimeFor(context.Storage);
        var name = context.Request.GetFormValuesAsync("name").GetAwaiter().GetResult().FirstOrDefault()?.Trim() ?? string.Empty;
        var text = context.Request.GetFormValuesAsync("payload").GetAwaiter().GetResult().FirstOrDefault();
        try
        {
            object? payload = null;
            if (!string.IsNullOrWhiteSpace(text))
            {
                try
                {
                    payload = System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
                }
                catch (System.Text.Json.JsonException)
                {
                    payload = text;
                }
            }

            var delivery = runtime.Client.SendEventAsync(id, name, payload, $"dashboard-{Guid.NewGuid():N}").GetAwaiter().GetResult();
            DashboardLog.EventSent(runtime.DashboardLogger, name, id, delivery.Outcome);
            if (delivery.Outcome == EventDeliveryOutcome.WorkflowEnded)
            {
                runtime.Refusals.Record(id, "event", $"Workflow {id} has ended; the event '{name}' was not kept.");
                return false;
            }

            return true;
        }
        catch (Exception e) when (e is ArgumentException or WorkflowNotFoundException)
        {
            DashboardLog.CommandRefused(runtime.DashboardLogger, "event", id, e.Message);
            runtime.Refusals.Record(id, "event", e.Message);
            return false;
        }
    }

    private static NonEscapedString RenderStepJobLink(JobDetailsRendererDto dto)
    {
        var job = dto.JobDetails.Job;
        if (job?.Type != typeof(WorkflowStepJob) || Server.StepJobLabel.Read(job) is not var (workflow, workflowId, step))
        {
            return new NonEscapedString(string.Empty);
        }

        var url = dto.Page.Url.To($"/genevadrive/workflows/{workflowId.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        return new NonEscapedString(
            $"<div class=\"alert alert-info genevadrive-job-link\">Step <strong>{Html.E(step)}</strong> of workflow " +
            $"<a href=\"{Html.E(url)}\">{Html.E(workflow)} #{workflowId.ToString(System.Globalization.CultureInfo.InvariantCulture)}</a> (step execution {Html.E(job.Args[0])}).</div>");
    }
}
