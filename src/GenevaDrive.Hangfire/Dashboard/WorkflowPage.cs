using System.Globalization;
using System.Text;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using static GenevaDrive.Dashboard.Html;

namespace GenevaDrive.Dashboard;

/// <summary>One workflow: its hero and state, the defined steps with where it stands, the execution history, and the commands.</summary>
internal sealed class WorkflowPage(Func<Hangfire.JobStorage, GenevaDriveRuntime> runtimeFor, long workflowId) : RazorPage
{
    private GenevaDriveRuntime _runtime = null!;

    public override void Execute()
    {
        _runtime = runtimeFor(Storage);
        var workflow = _runtime.Store.GetWorkflowAsync(workflowId).GetAwaiter().GetResult();
        Layout = new LayoutPage(workflow is null ? "Workflow not found" : $"{workflow.Type} #{workflow.Id}");
        var html = new StringBuilder();
        html.Append("<div class=\"row\"><div class=\"col-md-12\">");
        html.Append($"<p><a href=\"{E(Url.To("/genevadrive/workflows"))}\">← Workflows</a></p>");
        if (workflow is null)
        {
            html.Append($"<h1 class=\"page-header\">Workflow #{workflowId}</h1><div class=\"alert alert-warning\">This workflow does not exist (it may have been cleaned up).</div></div></div>");
            WriteLiteral(html.ToString());
            return;
        }

        var history = _runtime.Store.GetHistoryAsync(workflow.Id).GetAwaiter().GetResult();
        var events = _runtime.Store.GetEventsAsync(workflow.Id).GetAwaiter().GetResult();
        var waiting = history.LastOrDefault() is { State: "scheduled", WaitingFor: { } awaited } gated ? (awaited, gated) : default;
        html.Append($"<h1 class=\"page-header\">{E(workflow.Type)} #{workflow.Id} {StateLabel(workflow.State)}</h1>");
        AppendCommands(html, workflow.WorkflowState);
        html.Append("<dl class=\"dl-horizontal genevadrive-summary\">")
            .Append($"<dt>Hero</dt><dd>{E(workflow.HeroType)} <code>{E(workflow.HeroId)}</code></dd>")
            .Append($"<dt>State</dt><dd class=\"genevadrive-state\">{E(workflow.State)}</dd>")
            .Append(workflow.StateReason is null ? string.Empty : $"<dt>Why</dt><dd class=\"genevadrive-state-reason\">{E(workflow.StateReason)}</dd>")
            .Append($"<dt>Current step</dt><dd>{E(workflow.CurrentStepName ?? "—")}</dd>")
            .Append($"<dt>Next step</dt><dd>{E(workflow.NextStepName ?? "—")}</dd>")
            .Append(waiting.awaited is null ? string.Empty
                : $"<dt>Waiting for</dt><dd class=\"genevadrive-waiting\">event <code>{E(waiting.awaited)}</code> since {Time(waiting.gated!.CreatedAt)}, " +
                  $"until {Time(waiting.gated.WaitUntil)} (then {E(waiting.gated.ParsedMetadata.Wait?.OnTimeout.ToString() ?? "it is armed when it runs")})</dd>")
            .Append($"<dt>Created</dt><dd>{Time(workflow.CreatedAt)}</dd>")
            .Append($"<dt>Updated</dt><dd>{Time(workflow.UpdatedAt)}</dd>")
            .Append($"<dt>Transitioned</dt><dd>{Time(workflow.TransitionedAt)}</dd>")
            .Append("</dl>");

        AppendSteps(html, workflow, history);
        AppendEvents(html, workflow, events);
        AppendHistory(html, history);
        html.Append("</div></div>");
        WriteLiteral(html.ToString());
    }

    private void AppendCommands(StringBuilder html, WorkflowState state)
    {
        if (IsReadOnly)
        {
            return;
        }

        var buttons = new List<(string Action, string Text, string Style, string? Confirm)>();
        if (state is WorkflowState.Ready or WorkflowState.Performing)
        {
            buttons.Add(("pause", "Pause", "btn-default", state == WorkflowState.Performing ? "Pause while its step runs? The step is stopped at its next heartbeat." : null));
        }

        if (state == WorkflowState.Paused)
        {
            buttons.Add(("resume", "Resume", "btn-primary", null));
        }

        if (state is WorkflowState.Ready or WorkflowState.Paused)
        {
            buttons.Add(("skip", "Skip step", "btn-default", "Skip the current step and schedule the next one?"));
        }

        if (state is WorkflowState.Ready or WorkflowState.Paused or WorkflowState.Performing)
        {
            buttons.Add(("cancel", "Cancel", "btn-danger", "Cancel this workflow? This cannot be undone."));
        }

        if (buttons.Count == 0)
        {
            return;
        }

        html.Append("<div class=\"btn-toolbar genevadrive-commands\" style=\"margin-bottom:15px\">");
        foreach (var (action, text, style, confirm) in buttons)
        {
            html.Append($"<button type=\"button\" class=\"btn btn-sm {style} genevadrive-{action}\" data-ajax=\"{E(Url.To($"/genevadrive/workflows/{workflowId}/{action}"))}\"")
                .Append(confirm is null ? string.Empty : $" data-confirm=\"{E(confirm)}\"")
                .Append($" data-loading-text=\"{E(text)}…\">{E(text)}</button>");
        }

        html.Append("</div>");
    }

    private void AppendSteps(StringBuilder html, Storage.WorkflowRecord workflow, IReadOnlyList<Storage.StepExecutionRecord> history)
    {
        var type = _runtime.Registry.FindType(workflow.Type);
        html.Append("<h3>Steps</h3>");
        if (type is null)
        {
            html.Append($"<div class=\"alert alert-warning\">Workflow type '{E(workflow.Type)}' is not registered in this application, so its steps are unknown here.</div>");
            return;
        }

        var definition = _runtime.Registry.GetDefinition(type);
        html.Append("<table class=\"table table-condensed genevadrive-steps\"><thead><tr><th></th><th>Step</th><th>Wait</th><th>Condition</th><th>On exception</th><th>Last attempt</th></tr></thead><tbody>");
        foreach (var step in definition.Steps)
        {
            var marker = step.Name == workflow.CurrentStepName ? "<span class=\"label label-warning\">running</span>"
                : step.Name == workflow.NextStepName && workflow.State is "ready" or "paused" ? "<span class=\"label label-info\">next</span>"
                : string.Empty;
            var last = history.LastOrDefault(e => e.StepName == step.Name);
            var wait = step.WaitEvent is { } awaited ? $"event {awaited} (up to {step.WaitTimeout}, then {step.OnTimeout})" : step.Wait?.ToString() ?? "—";
            html.Append($"<tr><td>{marker}</td><td>{E(step.Name)}</td><td>{E(wait)}</td>")
                .Append($"<td>{E(step.ConditionKind == Definition.StepConditionKind.None ? "—" : step.ConditionKind.ToString())}</td>")
                .Append($"<td>{E(step.ExceptionPolicy?.ToString() ?? "workflow policy")}</td>")
                .Append($"<td>{(last is null ? "—" : StateLabel(last.State) + " " + E(last.Outcome))}</td></tr>");
        }

        html.Append("</tbody></table>");
    }

    private void AppendEvents(StringBuilder html, Storage.WorkflowRecord workflow, IReadOnlyList<Storage.WorkflowEventRecord> events)
    {
        html.Append("<h3>Events</h3>");
        if (events.Count == 0)
        {
            html.Append("<p class=\"text-muted\">No event was received.</p>");
        }
        else
        {
            html.Append("<table class=\"table table-condensed genevadrive-events\"><thead><tr><th>Event</th><th>Id</th><th>Received</th><th>Taken</th><th>By execution</th><th>Payload</th></tr></thead><tbody>");
            foreach (var e in events)
            {
                html.Append($"<tr><td>{E(e.Name)}</td><td><code>{E(e.EventKey)}</code></td><td>{Time(e.CreatedAt)}</td>")
                    .Append($"<td>{(e.ConsumedAt is null ? "<span class=\"label label-info\">kept</span>" : Time(e.ConsumedAt))}</td>")
                    .Append($"<td>{(e.ConsumedByExecutionId is { } by ? by.ToString(CultureInfo.InvariantCulture) : "—")}</td>")
                    .Append($"<td><code>{E(Truncate(e.Payload ?? "—", 200))}</code></td></tr>");
            }

            html.Append("</tbody></table>");
        }

        if (IsReadOnly || workflow.WorkflowState is WorkflowState.Finished or WorkflowState.Canceled)
        {
            return;
        }

        // Hangfire's own data-ajax buttons post no fields: this form posts its two, with the same antiforgery header.
        html.Append($"<form class=\"form-inline genevadrive-deliver\" data-url=\"{E(Url.To($"/genevadrive/workflows/{workflowId}/event"))}\" style=\"margin-bottom:15px\">")
            .Append("<input class=\"form-control input-sm\" name=\"name\" placeholder=\"event name\" required> ")
            .Append("<input class=\"form-control input-sm\" name=\"payload\" placeholder=\"payload (JSON or text)\" size=\"40\"> ")
            .Append("<button type=\"submit\" class=\"btn btn-sm btn-default\">Deliver event</button> <span class=\"genevadrive-deliver-result text-danger\"></span></form>")
            .Append("<script>document.querySelectorAll('form.genevadrive-deliver').forEach(function (form) {")
            .Append("form.addEventListener('submit', function (e) { e.preventDefault(); var headers = {};")
            .Append("var h = document.querySelector('meta[name=\"csrf-header\"]'), t = document.querySelector('meta[name=\"csrf-token\"]');")
            .Append("if (h && t) { headers[h.content] = t.content; }")
            .Append("fetch(form.dataset.url, { method: 'POST', headers: headers, body: new URLSearchParams(new FormData(form)) }).then(function (r) {")
            .Append("if (r.ok) { location.reload(); } else { form.querySelector('.genevadrive-deliver-result').textContent = 'The event was refused (HTTP ' + r.status + '): check its name, or the workflow has ended.'; } }); }); });</script>");
    }

    private void AppendHistory(StringBuilder html, IReadOnlyList<Storage.StepExecutionRecord> history)
    {
        html.Append("<h3>Execution history</h3>");
        if (history.Count == 0)
        {
            html.Append("<p class=\"text-muted\">No step has been scheduled.</p>");
            return;
        }

        html.Append("<table class=\"table table-hover genevadrive-history\"><thead><tr><th>#</th><th>Step</th><th title=\"Logical attempt (its idempotency key); run = every execution of the step\">Attempt</th><th>State</th><th>Outcome</th>")
            .Append("<th>Scheduled</th><th>Started</th><th>Finished</th><th>Progress</th><th>Error</th><th>Job</th></tr></thead><tbody>");
        var runs = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in history)
        {
            runs[e.StepName] = runs.GetValueOrDefault(e.StepName) + 1;
            var error = e.ErrorClassName is null
                ? string.Empty
                : $"<strong>{E(e.ErrorClassName)}</strong><br/><span class=\"genevadrive-error\">{E(Truncate(e.ErrorMessage, 400))}</span>";
            var job = e.JobId is null ? "—" : $"<a href=\"{E(Url.JobDetails(e.JobId))}\">#{E(e.JobId)}</a>";
            var attempt = $"<span title=\"Idempotency key {E(StepContext.BuildIdempotencyKey(e.WorkflowId, e.StepName, e.Attempt))}\">{e.Attempt.ToString(CultureInfo.InvariantCulture)}</span>" +
                          $" <small class=\"text-muted\">run {runs[e.StepName].ToString(CultureInfo.InvariantCulture)}</small>";
            var backoff = e.ParsedMetadata.Backoff;
            var progress = (e.Cursor is null && e.Checkpoints == 0 ? string.Empty
                               : $"<span class=\"genevadrive-cursor\">cursor <code>{E(Truncate(e.Cursor ?? "none", 120))}</code>, {e.Checkpoints.ToString(CultureInfo.InvariantCulture)} checkpoint(s)</span>") +
                           (backoff is null ? string.Empty : $"<span class=\"genevadrive-backoff\">next attempt by {E(backoff)}</span>");
            html.Append($"<tr><td>{e.Id}</td><td>{E(e.StepName)}</td><td>{attempt}</td>")
                .Append($"<td>{StateLabel(e.State)}</td><td>{E(e.Outcome)}</td><td>{Time(e.ScheduledFor)}</td><td>{Time(e.StartedAt)}</td>")
                .Append($"<td>{Time(e.FinishedAt)}</td><td>{progress}</td><td>{error}</td><td>{job}</td></tr>");
        }

        html.Append("</tbody></table>");
    }
}
