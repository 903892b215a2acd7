using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Hangfire.Dashboard;
using static GenevaDrive.Dashboard.Html;
using GenevaDrive.Registration;

namespace GenevaDrive.Dashboard;

/// <summary>
/// Bulk actions on the Workflows list: resume, pause, skip, jump or cancel the selected workflows, or all those
/// matching the list's filter (at most <see cref="Cap"/> per click, newest first, after a confirmation that names the
/// count). Each workflow is changed in its own transaction as the single-workflow command would, recorded with the
/// operator's name; the list then shows how many were changed and why the others were refused.
/// </summary>
internal static class BulkActions
{
    /// <summary>The most workflows one bulk click changes.</summary>
    public const int Cap = 1000;

    private static readonly string[] Actions = ["resume", "pause", "skip", "jump", "cancel"];
    private static readonly TimeSpan KeepResultsFor = TimeSpan.FromMinutes(10);
    private static readonly ConcurrentDictionary<string, (string Summary, bool AllApplied, DateTime At)> Results = new();

    /// <summary>The bulk command (POST <c>/genevadrive/workflows/bulk</c>).</summary>
    public static bool Apply(DashboardContext context, GenevaDriveRuntime runtime)
    {
        string? Form(string key) => context.Request.GetFormValuesAsync(key).GetAwaiter().GetResult().FirstOrDefault()?.Trim() is { Length: > 0 } v ? v : null;
        var action = Form("action");
        var token = Form("token");
        if (action is null || !Actions.Contains(action) || token is null || token.Length > 64)
        {
            return false;
        }

        var step = action == "jump" ? Form("step") : null;
        IReadOnlyList<long> ids;
        if (Form("scope") == "all")
        {
            ids = Matching(runtime, Form("state"), Form("type"), Form("at"));
        }
        else
        {
            ids = context.Request.GetFormValuesAsync("ids").GetAwaiter().GetResult()
                .Select(v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1)
                .Where(id => id > 0).Distinct().Take(Cap).ToList();
        }

        if (ids.Count == 0)
        {
            return false;
        }

        var actor = DashboardActor.Of(context);
        var refused = new List<string>();
        foreach (var id in ids)
        {
            if (GenevaDriveDashboard.Apply(runtime, id, action, step, actor) is { } reason)
            {
                refused.Add($"#{id}: {reason}");
            }
        }

        var what = action == "jump" ? $"jump to '{step}'" : action;
        var summary = $"Bulk {what} by {actor}: {ids.Count - refused.Count} of {ids.Count} workflow(s) changed" +
                      (refused.Count == 0 ? "." : $"; {refused.Count} refused — " + string.Join(" · ", refused.Take(10)) + (refused.Count > 10 ? " · …" : ""));
        Remember(token, summary, refused.Count == 0);
        return true;
    }

    /// <summary>The workflows a filter matches (what the list shows), newest first, at most <see cref="Cap"/>.</summary>
    private static IReadOnlyList<long> Matching(GenevaDriveRuntime runtime, string? state, string? type, string? atStep)
    {
        var parsed = WorkflowsPage.ParseState(state);
        if (state is not null && parsed is null)
        {
            return []; // a state the list would not filter by: never "all states" by accident
        }

        var rows = type is not null && atStep is not null
            ? runtime.Store.GetInFlightAtStepAsync(type, atStep, 0, Cap).GetAwaiter().GetResult()
            : runtime.Store.GetPageItemsAsync(parsed, type, 0, Cap).GetAwaiter().GetResult().Items;
        return rows.Where(w => parsed is null || w.WorkflowState == parsed).Select(w => w.Id).ToList();
    }

    private static void Remember(string token, string summary, bool allApplied)
    {
        foreach (var stale in Results.Where(r => DateTime.UtcNow - r.Value.At > KeepResultsFor).Select(r => r.Key).ToList())
        {
            Results.TryRemove(stale, out _);
        }

        Results[token] = (summary, allApplied, DateTime.UtcNow);
    }

    /// <summary>The summary of the bulk action the list was reloaded after, as an alert.</summary>
    public static string ResultAlert(string? token) =>
        token is not null && Results.TryGetValue(token, out var result)
            ? $"<div class=\"alert {(result.AllApplied ? "alert-success" : "alert-warning")} genevadrive-bulk-summary\">{E(result.Summary)}</div>"
            : string.Empty;

    /// <summary>
    /// The bulk form above the list: an action (with the target step when the list is filtered by a registered type),
    /// "Apply to selected" and "Apply to all N matching". Hidden in read-only dashboards.
    /// </summary>
    public static void Render(StringBuilder html, string bulkUrl, string? state, string? type, string? atStep, long total, IEnumerable<string>? steps,
        bool allowAll, bool totalIsExact)
    {
        html.Append($"<form class=\"form-inline genevadrive-bulk\" data-url=\"{E(bulkUrl)}\" data-total=\"{total.ToString(CultureInfo.InvariantCulture)}\" ")
            .Append(totalIsExact ? string.Empty : "data-about=\"about \" ")
            .Append(CultureInfo.InvariantCulture, $"data-cap=\"{Cap}\" style=\"margin:0 0 10px\"><label for=\"genevadrive-bulk-action\">Bulk&nbsp;</label>")
            .Append("<select id=\"genevadrive-bulk-action\" name=\"action\" class=\"form-control input-sm\">")
            .Append("<option value=\"resume\">Resume</option><option value=\"pause\">Pause</option><option value=\"skip\">Skip step</option>");
        var stepList = steps?.ToList();
        if (stepList is { Count: > 0 })
        {
            html.Append("<option value=\"jump\">Jump to step</option>");
        }

        html.Append("<option value=\"cancel\">Cancel</option></select> ");
        if (stepList is { Count: > 0 })
        {
            html.Append("<select name=\"step\" class=\"form-control input-sm genevadrive-bulk-step\" title=\"The step Jump moves to\">");
            foreach (var name in stepList)
            {
                html.Append($"<option value=\"{E(name)}\">{E(name)}</option>");
            }

            html.Append("</select> ");
        }

        foreach (var (name, value) in new[] { ("state", state), ("type", type), ("at", atStep) })
        {
            if (value is not null)
            {
                html.Append($"<input type=\"hidden\" name=\"{name}\" value=\"{E(value)}\" />");
            }
        }

        var about = totalIsExact ? string.Empty : "about ";
        var all = total > Cap ? $"Apply to the newest {Cap} of {about}{total} matching" : $"Apply to all {about}{total} matching";
        html.Append("<button type=\"button\" class=\"btn btn-sm btn-default genevadrive-bulk-selected\">Apply to selected</button> ")
            // A hero search is not a filter the command can repeat: only the rows shown (selected) are offered then.
            .Append(allowAll ? $"<button type=\"button\" class=\"btn btn-sm btn-warning genevadrive-bulk-all\">{E(all)}</button> " : string.Empty)
            .Append("<span class=\"genevadrive-bulk-result text-danger\"></span></form>")
            .Append("<script type=\"text/javascript\">(function () { var form = document.querySelector('form.genevadrive-bulk'); if (!form) { return; }")
            .Append("var result = form.querySelector('.genevadrive-bulk-result');")
            .Append("var selectAll = document.querySelector('input.genevadrive-select-all');")
            .Append("if (selectAll) { selectAll.addEventListener('change', function () { document.querySelectorAll('input.genevadrive-select').forEach(function (b) { b.checked = selectAll.checked; }); }); }")
            .Append("function send(scope) { var data = new URLSearchParams(new FormData(form)); var token = Math.random().toString(36).slice(2) + Date.now().toString(36);")
            .Append("data.set('scope', scope); data.set('token', token); var action = form.querySelector('[name=action]');")
            .Append("var label = action.options[action.selectedIndex].text + (action.value === 'jump' ? ' \\'' + form.querySelector('[name=step]').value + '\\'' : '');")
            .Append("var question;")
            .Append("if (scope === 'selected') { var boxes = document.querySelectorAll('input.genevadrive-select:checked');")
            .Append("if (boxes.length === 0) { result.textContent = 'Select workflows in the list first.'; return; }")
            .Append("boxes.forEach(function (b) { data.append('ids', b.value); }); question = label + ': ' + boxes.length + ' selected workflow(s)?'; }")
            .Append("else { var total = parseInt(form.dataset.total, 10), cap = parseInt(form.dataset.cap, 10);")
            .Append("question = label + ': ALL ' + (form.dataset.about || '') + total + ' workflow(s) matching this filter' + (total > cap ? ' (the newest ' + cap + ' now; repeat for the rest)' : '') + '?'; }")
            .Append("if (!confirm(question)) { return; } var headers = {};")
            .Append("var h = document.querySelector('meta[name=\"csrf-header\"]'), t = document.querySelector('meta[name=\"csrf-token\"]'); if (h && t) { headers[h.content] = t.content; }")
            .Append("form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });")
            .Append("fetch(form.dataset.url, { method: 'POST', headers: headers, body: data }).then(function (r) {")
            .Append("if (!r.ok) { result.textContent = 'The bulk action was refused (HTTP ' + r.status + ').'; form.querySelectorAll('button').forEach(function (b) { b.disabled = false; }); return; }")
            .Append("var url = new URL(location.href); url.searchParams.set('bulk', token); location.href = url.toString(); }); }")
            .Append("form.querySelector('.genevadrive-bulk-selected').addEventListener('click', function () { send('selected'); });")
            .Append("var all = form.querySelector('.genevadrive-bulk-all'); if (all) { all.addEventListener('click', function () { send('all'); }); } })();</script>");
    }
}
