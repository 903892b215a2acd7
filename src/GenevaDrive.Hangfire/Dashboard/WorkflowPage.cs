using System.Globalization;
using System.Text;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using static GenevaDrive.Dashboard.Html;
using GenevaDrive.Registration;

namespace GenevaDrive.Dashboard;

/// <summary>One workflow: its hero and state, its parent or children, the defined steps with where it stands, the execution history, and the commands.</summary>
internal sealed partial class WorkflowPage(Func<Hangfire.JobStorage, GenevaDriveRuntime> runtimeFor, long workflowId) : RazorPage
{
    private GenevaDriveRuntime _runtime = null!;

    public override void Execute()
    {
        _runtime = runtimeFor(Storage);
        var workflow = workflowId > 0 ? _runtime.Store.GetWorkflowAsync(workflowId).GetAwaiter().GetResult() : null;
        Layout = new LayoutPage(workflow is null ? "Workflow not found" : $"{workflow.Type} #{workflow.Id}");
        if (workflow is null)
        {
            Context.Response.StatusCode = 404;
        }

        var html = new StringBuilder();
        html.Append("<div class=\"row\"><div class=\"col-md-12\">");
        html.Append($"<p><a href=\"{E(Url.To("/genevadrive/workflows"))}\">← Workflows</a></p>");
        if (workflow is null)
        {
            html.Append($"<h1 class=\"page-header\">Workflow #{E(workflowId > 0 ? workflowId.ToString(CultureInfo.InvariantCulture) : "?")}</h1><div class=\"alert alert-warning\">This workflow does not exist (it may have been cleaned up).</div></div></div>");
            WriteLiteral(html.ToString());
            return;
        }

        var history = _runtime.Store.GetHistoryAsync(workflow.Id).GetAwaiter().GetResult();
        var events = _runtime.Store.GetEventsAsync(workflow.Id).GetAwaiter().GetResult();
        var waiting = history.LastOrDefault() is { State: "scheduled", WaitingFor: { } awaited } gated ? (awaited, gated) : default;
        html.Append($"<h1 class=\"page-header\">{E(workflow.Type)} #{workflow.Id} {Label(workflow.State)}</h1>");
        AppendRefusal(html, workflow);
        AppendCommands(html, workflow);
        html.Append("<dl class=\"dl-horizontal genevadrive-summary\">")
            .Append($"<dt>Hero</dt><dd>{E(workflow.HeroType)} <code>{E(workflow.HeroId)}</code></dd>")
            .Append($"<dt>State</dt><dd class=\"genevadrive-state\">{E(workflow.State)}</dd>")
            .Append(workflow.StateReason is null ? string.Empty : $"<dt>Why</dt><dd class=\"genevadrive-state-reason\">{E(workflow.StateReason)}</dd>")
            .Append($"<dt>Current step</dt><dd>{E(workflow.CurrentStepName ?? "—")}</dd>")
            .Append($"<dt>Next step</dt><dd>{E(workflow.NextStepName ?? "—")}</dd>")
            .Append(Parent(workflow))
            .Append(waiting.awaited is null ? string.Empty
                : $"<dt>Waiting for</dt><dd class=\"genevadrive-waiting\">event <code>{E(waiting.awaited)}</code> since {When(waiting.gated!.CreatedAt)}, " +
                  $"until {When(waiting.gated.WaitUntil)} (then {E(waiting.gated.ParsedMetadata.Wait?.OnTimeout.ToString() ?? "it is armed when it runs")})</dd>")
            .Append(Running(history.LastOrDefault()))
            .Append($"<dt>Created</dt><dd>{When(workflow.CreatedAt)}</dd>")
            .Append($"<dt>Updated</dt><dd>{When(workflow.UpdatedAt)}</dd>")
            .Append($"<dt>Transitioned</dt><dd>{When(workflow.TransitionedAt)}</dd>")
            .Append("</dl>");

        AppendChildren(html, workflow);
        AppendSteps(html, workflow, history);
        AppendEvents(html, workflow, events);
        AppendTimeline(html, history);
        AppendHistory(html, history);
        html.Append("</div></div>");
        WriteLiteral(html.ToString());
    }

    /// <summary>
    /// For an attempt in progress: which job runs it, its last heartbeat, and until when its lease holds; once the lease
    /// has run out, that the worker is gone (killed or frozen) and the reconciler takes the step over at its next run.
    /// </summary>
    private string Running(Store.StepExecutionRecord? current)
    {
        if (current is not { State: "in_progress" })
        {
            return string.Empty;
        }

        var lease = current.LeaseExpiresAt is { } until && until < DateTime.UtcNow
            ? $"its lease ran out at {When(until)}: the worker is gone (killed or frozen); the reconciler recovers the step at its next run"
            : $"lease held until {When(current.LeaseExpiresAt)} and renewed by each heartbeat";
        return $"<dt>Running</dt><dd class=\"genevadrive-running\">step <code>{E(current.StepName)}</code> on job {E(current.JobId ?? "—")} since " +
               $"{When(current.StartedAt)}; last heartbeat {When(current.HeartbeatAt)}; {lease}</dd>";
    }

    /// <summary>
    /// The attempts on one time axis, drawn as inline SVG: a thin grey bar from when each was created to when it was
    /// due or started (its wait), then a bar from start to end coloured by outcome; the last 60 attempts.
    /// </summary>
    private void AppendTimeline(StringBuilder html, IReadOnlyList<Store.StepExecutionRecord> history)
    {
        var shown = history.Skip(Math.Max(0, history.Count - 60)).ToList();
        if (shown.Count == 0)
        {
            return;
        }

        var now = DateTime.UtcNow;
        DateTime End(Store.StepExecutionRecord e) => e.FinishedAt ?? (e.StartedAt is not null ? now : e.ScheduledFor);
        var start = shown.Min(e => e.CreatedAt);
        var end = shown.Max(e => End(e) > e.ScheduledFor ? End(e) : e.ScheduledFor);
        var span = Math.Max(1, (end - start).TotalMilliseconds);
        const int width = 900, label = 170, row = 20;
        double X(DateTime t) => label + ((t - start).TotalMilliseconds / span * (width - label - 10));
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg class=\"genevadrive-timeline\" role=\"img\" aria-label=\"Timeline of the attempts\" width=\"{width}\" height=\"{(shown.Count * row) + 24}\" xmlns=\"http://www.w3.org/2000/svg\" style=\"font:11px sans-serif\">");
        for (var i = 0; i < shown.Count; i++)
        {
            var e = shown[i];
            var y = i * row;
            var began = e.StartedAt ?? e.ScheduledFor;
            var finished = End(e);
            var kind = e.Outcome ?? (e.State == "in_progress" ? "in_progress" : "scheduled");
            var color = TimelineKey.FirstOrDefault(k => k.Outcomes.Contains(kind)).Color ?? TimelineKey[^1].Color;
            var title = $"{e.StepName} #{e.Id}: {e.State}{(e.Outcome is null ? string.Empty : "/" + e.Outcome)}; created {e.CreatedAt:u}, due {e.ScheduledFor:u}" +
                        (e.StartedAt is { } st ? $", started {st:u}" : string.Empty) + (e.FinishedAt is { } fi ? $", finished {fi:u}" : string.Empty);
            svg.Append(CultureInfo.InvariantCulture, $"<g class=\"genevadrive-attempt\" data-outcome=\"{E(e.Outcome ?? e.State)}\"><title>{E(title)}</title>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 14}\">{E(Truncate(e.StepName, 24))}</text>")
                .Append(CultureInfo.InvariantCulture, $"<rect x=\"{X(e.CreatedAt):0.#}\" y=\"{y + 8}\" width=\"{Math.Max(1, X(began) - X(e.CreatedAt)):0.#}\" height=\"3\" fill=\"#dddddd\"/>")
                .Append(CultureInfo.InvariantCulture, $"<rect x=\"{X(began):0.#}\" y=\"{y + 3}\" width=\"{Math.Max(3, X(finished) - X(began)):0.#}\" height=\"13\" rx=\"2\" fill=\"{color}\"/></g>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label}\" y=\"{(shown.Count * row) + 16}\" fill=\"#777\">{E(start.ToString("u", CultureInfo.InvariantCulture))}</text>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{width - 10}\" y=\"{(shown.Count * row) + 16}\" fill=\"#777\" text-anchor=\"end\">{E(end.ToString("u", CultureInfo.InvariantCulture))}</text></svg>");
        html.Append("<h3>Timeline</h3>").Append(svg).Append("<p class=\"genevadrive-legend\">");
        foreach (var key in TimelineKey)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<span style=\"margin-right:14px;white-space:nowrap\"><span style=\"display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;background:{key.Color}\"></span> {E(key.Label)}</span>");
        }

        html.Append("<span style=\"white-space:nowrap\"><span style=\"display:inline-block;width:12px;height:3px;vertical-align:3px;background:#dddddd\"></span> waiting to run</span></p>");
    }

    /// <summary>
    /// The timeline's colours, each a kind of attempt an operator tells apart at a glance: normal progress (a success, a
    /// resumable step's time slice), a reattempt, a failure, an interruption, and the rest; the legend lists them in this order.
    /// </summary>
    internal static readonly (string Color, string Label, string[] Outcomes)[] TimelineKey =
    [
        ("#5cb85c", "succeeded", ["success"]),
        ("#a3d9a5", "time slice of a resumable step, or run again to take an event", ["suspended", "rescheduled"]),
        ("#f0ad4e", "reattempted", ["reattempted"]),
        ("#d9534f", "failed, or abandoned by its worker (recovered)", ["failed", "recovered"]),
        ("#8e6bbf", "interrupted (server stopped)", ["interrupted"]),
        ("#5bc0de", "skipped", ["skipped"]),
        ("#337ab7", "running", ["in_progress"]),
        ("#cccccc", "scheduled", ["scheduled"]),
        ("#999999", "canceled, or stopped by a pause", []),
    ];

    /// <summary>After a refused command, why (the command's own message, or what the workflow's state allows).</summary>
    private void AppendRefusal(StringBuilder html, Store.WorkflowRecord workflow)
    {
        if (Query("refused") is not { Length: > 0 } action || action.Length > 20)
        {
            return;
        }

        var reason = _runtime.Refusals.Find(workflow.Id, action) ?? action switch
        {
            "resume" => $"Only a paused workflow can be resumed; this one is {workflow.State}.",
            "pause" => $"Only a ready or performing workflow can be paused; this one is {workflow.State}.",
            "skip" => $"Only a ready or paused workflow can skip its step; this one is {workflow.State}.",
            "cancel" => $"Only a ready, performing or paused workflow can be canceled; this one is {workflow.State}.",
            _ => $"The workflow is {workflow.State}.",
        };
        html.Append($"<div class=\"alert alert-danger genevadrive-refused\"><strong>{E(action)} was refused.</strong> {E(reason)}</div>");
    }

    /// <summary>A state drawn by Hangfire's own state label, in the colour of the job state it resembles.</summary>
    private string Label(string state) => Html.StateLabel(HangfireStateFor(state), state).ToString();

    /// <summary>A time as Hangfire's pages show it: in the viewer's local time, with the exact time on hover.</summary>
    private string When(DateTime? utc) => utc is { } t ? Html.LocalTime(t).ToString() : "<span class=\"text-muted\">—</span>";

    private void AppendCommands(StringBuilder html, Store.WorkflowRecord workflow)
    {
        var state = workflow.WorkflowState;
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

        var definition = _runtime.Registry.FindType(workflow.Type) is { } type ? _runtime.Registry.GetDefinition(type) : null;
        var standing = workflow.CurrentStepName ?? workflow.NextStepName;
        if (state is WorkflowState.Ready or WorkflowState.Paused && definition is not null && standing is not null)
        {
            // The confirmation names where the workflow goes; a step this build cannot place offers Jump instead (a skip would be refused).
            var resolved = definition.Resolve(standing);
            if (resolved.Kind != Definition.StepNameKind.Unknown)
            {
                var next = definition.NextAfterStored(standing, workflow.Id, "skip the current step of");
                buttons.Add(("skip", "Skip step", "btn-default", next is null
                    ? $"Skip '{standing}', the last step, and finish this workflow?"
                    : $"Skip '{standing}' and continue at '{next.Name}'{(next.Wait is { } w && w > TimeSpan.Zero ? $" (after its wait of {w})" : string.Empty)}?"));
            }
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
            html.Append($"<button type=\"button\" class=\"btn btn-sm {style} genevadrive-{action}\" data-genevadrive-command=\"{E(Url.To($"/genevadrive/workflows/{workflowId}/{action}"))}\"")
                .Append($" data-action=\"{E(action)}\"")
                .Append(confirm is null ? string.Empty : $" data-confirm=\"{E(confirm)}\"")
                .Append($">{E(text)}</button>");
        }

        html.Append("</div>");
        // Hangfire's data-ajax buttons do nothing visible when a command is refused (422): these reload with the reason.
        html.Append("<script>document.querySelectorAll('[data-genevadrive-command]').forEach(function (button) {")
            .Append("button.addEventListener('click', function () { if (button.dataset.confirm && !confirm(button.dataset.confirm)) { return; }")
            .Append("button.disabled = true; var headers = {}; var h = document.querySelector('meta[name=\"csrf-header\"]'), t = document.querySelector('meta[name=\"csrf-token\"]');")
            .Append("if (h && t) { headers[h.content] = t.content; }")
            .Append("fetch(button.dataset.genevadriveCommand, { method: 'POST', headers: headers }).then(function (r) {")
            .Append("var url = location.pathname; if (!r.ok) { url += '?refused=' + encodeURIComponent(button.dataset.action); } location.href = url; }); }); });</script>");
        if (state is WorkflowState.Ready or WorkflowState.Paused && definition is not null)
        {
            AppendJump(html, workflow, definition, standing);
        }
    }

    /// <summary>Jump to any defined step (earlier, to run steps again, or later): a form posting the step, recorded with the operator.</summary>
    private void AppendJump(StringBuilder html, Store.WorkflowRecord workflow, Definition.WorkflowDefinition definition, string? standing)
    {
        var undefined = standing is not null && definition.Resolve(standing).Kind == Definition.StepNameKind.Unknown;
        if (undefined)
        {
            html.Append($"<div class=\"alert alert-warning genevadrive-undefined-step\">Step <code>{E(standing)}</code> is not defined in this build, so the step after it is unknown: ")
                .Append("a skip is refused. Jump the workflow to the step it should continue at, or deploy a build that defines or retires it.</div>");
        }

        html.Append($"<form class=\"form-inline genevadrive-jump\" data-url=\"{E(Url.To($"/genevadrive/workflows/{workflow.Id}/jump"))}\" style=\"margin-bottom:15px\">")
            .Append("<label>Jump to step&nbsp;</label><select name=\"step\" class=\"form-control input-sm\">");
        foreach (var name in definition.Steps.Names)
        {
            html.Append($"<option value=\"{E(name)}\"{(name == standing ? " selected" : string.Empty)}>{E(name)}</option>");
        }

        html.Append("</select> <button type=\"submit\" class=\"btn btn-sm btn-default\">Jump</button></form>")
            .Append("<script>document.querySelectorAll('form.genevadrive-jump').forEach(function (form) {")
            .Append("form.addEventListener('submit', function (e) { e.preventDefault(); var step = form.querySelector('[name=step]').value;")
            .Append("if (!confirm('Jump to \\'' + step + '\\' and run it now? The scheduled step, if any, is recorded as skipped.')) { return; } var headers = {};")
            .Append("var h = document.querySelector('meta[name=\"csrf-header\"]'), t = document.querySelector('meta[name=\"csrf-token\"]'); if (h && t) { headers[h.content] = t.content; }")
            .Append("fetch(form.dataset.url, { method: 'POST', headers: headers, body: new URLSearchParams(new FormData(form)) }).then(function (r) {")
            .Append("var url = location.pathname; if (!r.ok) { url += '?refused=jump'; } location.href = url; }); }); });</script>");
    }

    private void AppendSteps(StringBuilder html, Store.WorkflowRecord workflow, IReadOnlyList<Store.StepExecutionRecord> history)
    {
        var type = _runtime.Registry.FindType(workflow.Type);
        html.Append("<h3>Steps</h3>");
        if (type is null)
        {
            html.Append($"<div class=\"alert alert-warning\">Workflow type '{E(workflow.Type)}' is not registered in this application, so its steps are unknown here.</div>");
            return;
        }

        var definition = _runtime.Registry.GetDefinition(type);
        var reattempts = history.Where(e => e.Outcome == "reattempted").GroupBy(e => e.StepName).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        if (reattempts.Count > 0)
        {
            // A failed attempt that is tried again ends as a Succeeded Hangfire job: Hangfire's Retries page never sees it.
            html.Append("<p class=\"text-warning genevadrive-reattempts\">")
                .Append(reattempts.Values.Sum().ToString(CultureInfo.InvariantCulture))
                .Append(" failed attempt(s) of this workflow were reattempted. Each ended as a Succeeded Hangfire job, so Hangfire's Retries page ")
                .Append("does not count them: the Reattempts column does.</p>");
        }

        html.Append("<table class=\"table table-condensed genevadrive-steps\"><thead><tr><th></th><th>Step</th><th>Wait</th><th>Condition</th><th>On exception</th><th>Reattempts</th><th>Last attempt</th></tr></thead><tbody>");
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
                .Append(reattempts.TryGetValue(step.Name, out var count) ? $"<td><span class=\"label label-warning\">{count}</span></td>" : "<td>0</td>")
                .Append($"<td>{(last is null ? "—" : Label(last.State) + " " + E(last.Outcome))}</td></tr>");
        }

        html.Append("</tbody></table>");
    }

    private void AppendEvents(StringBuilder html, Store.WorkflowRecord workflow, IReadOnlyList<Store.WorkflowEventRecord> events)
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
                html.Append($"<tr><td>{E(e.Name)}</td><td><code>{E(e.EventKey)}</code></td><td>{When(e.CreatedAt)}</td>")
                    .Append($"<td>{(e.ConsumedAt is null ? "<span class=\"label label-info\">kept</span>" : When(e.ConsumedAt))}</td>")
                    .Append($"<td>{(e.ConsumedByExecutionId is { } by ? by.ToString(CultureInfo.InvariantCulture) : e.ConsumedAt is null ? "—" : "<span class=\"label label-default\" title=\"The wait for it had ended (timed out or skipped); no step took it.\">too late</span>")}</td>")
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

    private void AppendHistory(StringBuilder html, IReadOnlyList<Store.StepExecutionRecord> history)
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
            var job = e.JobId is null ? "—" : Html.JobIdLink(e.JobId).ToString();
            var attempt = $"<span title=\"Idempotency key {E(StepContext.BuildIdempotencyKey(e.WorkflowId, e.StepName, e.Attempt))}\">{e.Attempt.ToString(CultureInfo.InvariantCulture)}</span>" +
                          $" <small class=\"text-muted\">run {runs[e.StepName].ToString(CultureInfo.InvariantCulture)}</small>";
            var backoff = e.ParsedMetadata.Backoff;
            var progress = (e.Cursor is null && e.Checkpoints == 0 ? string.Empty
                               : $"<span class=\"genevadrive-cursor\">cursor <code>{E(Truncate(e.Cursor ?? "none", 120))}</code>, {e.Checkpoints.ToString(CultureInfo.InvariantCulture)} checkpoint(s)</span>") +
                           (backoff is null ? string.Empty : $"<span class=\"genevadrive-backoff\">next attempt by {E(backoff)}</span>");
            html.Append($"<tr><td>{e.Id}</td><td>{E(e.StepName)}</td><td>{attempt}</td>")
                .Append($"<td>{Label(e.State)}</td><td>{E(e.Outcome)}</td><td>{When(e.ScheduledFor)}</td><td>{When(e.StartedAt)}</td>")
                .Append($"<td>{When(e.FinishedAt)}</td><td>{progress}</td><td>{error}</td><td>{job}</td></tr>");
        }

        html.Append("</tbody></table>");
    }
}
