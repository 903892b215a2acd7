using System.Globalization;
using System.Text;
using GenevaDrive.Execution;
using GenevaDrive.Storage;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using static GenevaDrive.Dashboard.Html;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Dashboard;

/// <summary>
/// The Workflows page: counts by state, a list filterable by state and type or searched by hero id, or the children of one
/// parent workflow (<c>parent</c>), newest first, paged with Hangfire's own pager and per-page selector (<c>from</c> and
/// <c>count</c>, as Hangfire's pages do).
/// Query values it cannot use are ignored: the page never fails on them.
/// </summary>
internal sealed class WorkflowsPage(Func<Hangfire.JobStorage, GenevaDriveRuntime> runtimeFor) : RazorPage
{
    private const int DefaultPerPage = 25;
    private const int MaxPerPage = 5000;

    public override void Execute()
    {
        var runtime = runtimeFor(Storage);
        Layout = new LayoutPage("Workflows");
        // The children of a parent are a list of their own: the other filters do not apply to it.
        var filter = long.TryParse(Query("parent"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0
            ? new Filter(null, null, null, Parent: p)
            : new Filter(ParseState(Query("state")), Clean(Query("type")), Clean(Query("hero")), Clean(Query("at")), Query("flapping") == "1");
        var from = int.TryParse(Query("from"), NumberStyles.None, CultureInfo.InvariantCulture, out var f) ? f : 0;
        var count = int.TryParse(Query("count"), NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c is > 0 and <= MaxPerPage ? c : DefaultPerPage;
        var snapshot = runtime.Counts.GetAsync().GetAwaiter().GetResult();
        var counts = snapshot.ByState();
        var (items, total) = filter.Parent is { } parentId ? Children(runtime, parentId, from, count)
            : filter.Flapping ? Flapping(runtime, from, count)
            : filter.Hero is { } heroId ? SearchByHero(runtime, heroId, filter, from, count)
            : filter is { Type: { } atType, AtStep: { } atStep } ? AtStep(runtime, atType, atStep, filter, from, count)
            : Page(runtime, filter, from, count, snapshot);

        var html = new StringBuilder();
        html.Append("<div class=\"row\"><div class=\"col-md-12\">");
        html.Append(filter.Parent is { } parentOf ? ChildrenHeading(runtime, parentOf) : "<h1 class=\"page-header\">Workflows</h1>");
        html.Append("<ul class=\"nav nav-pills genevadrive-states\">");
        // Beside a parent's children, the pills count and link the whole list.
        var pills = filter with { Parent = null };
        html.Append(Pill("All", pills with { State = null }, filter.State is null && filter.Parent is null, counts.Values.Sum()));
        foreach (var (state, stateCount) in counts)
        {
            html.Append(Pill(state.ToStored(), pills with { State = state }, filter.State == state, stateCount));
        }

        html.Append(CultureInfo.InvariantCulture, $"<li class=\"{(filter.Flapping ? "active" : string.Empty)}\" title=\"Ongoing workflows whose current step is on attempt {FlappingFrom} or later: it failed or was reattempted at least {FlappingFrom - 1} times\">")
            .Append($"<a class=\"genevadrive-flapping\" href=\"{E(Url.To("/genevadrive/workflows") + new Filter(null, null, null, null, Flapping: true).Query('?'))}\">flapping</a></li>");
        html.Append("</ul>");
        html.Append(BulkActions.ResultAlert(Clean(Query("bulk"))));
        AppendDrift(html, runtime);
        if (!snapshot.Fresh)
        {
            // A large store: counting every workflow takes too long for each page, so the counts come from the latest count.
            html.Append(CultureInfo.InvariantCulture,
                    $"<p class=\"text-muted genevadrive-counts-age\">Counts as of {Html.RelativeTime(snapshot.TakenAt)} (counting takes {snapshot.Took.TotalMilliseconds:0} ms on this store, ")
                .Append(CultureInfo.InvariantCulture, $"so it runs in the background at most every {WorkflowCounts.MaxAge.TotalSeconds:0} s).</p>");
        }

        if (filter.Parent is null)
        {
            AppendFilterForm(html, runtime, filter);
        }

        var pager = new FilteredPager(from, count, total, Url.To("/genevadrive/workflows"), filter);
        if (items.Count == 0)
        {
            html.Append(filter.Hero is { } searched
                ? $"<div class=\"alert alert-info genevadrive-empty\">No workflow is about a hero with id <code>{E(searched)}</code>.</div>"
                : filter.Parent is { } childless ? $"<div class=\"alert alert-info genevadrive-empty\">Workflow #{childless} has no children.</div>"
                : "<div class=\"alert alert-info genevadrive-empty\">No workflows match.</div>");
        }
        else
        {
            if (!IsReadOnly)
            {
                var steps = filter.Type is { } typeName && runtime.Registry.FindType(typeName) is { } registered
                    ? runtime.Registry.GetDefinition(registered).Steps.Names
                    : null;
                // A hero search or a parent's children are not a filter the command can repeat: only the rows shown (selected) are offered then.
                BulkActions.Render(html, Url.To("/genevadrive/workflows/bulk"), filter.State?.ToStored(), filter.Type, filter.AtStep, total, steps,
                    allowAll: filter.Hero is null && filter.Parent is null, totalIsExact: snapshot.Fresh || filter.Hero is not null || filter.Parent is not null);
            }

            AppendRows(html, runtime, items, filter.Parent is not null);
        }

        html.Append("<div class=\"genevadrive-pager\">")
            .Append(CultureInfo.InvariantCulture, $"<p class=\"text-muted\">Page {pager.CurrentPage} of {Math.Max(1, pager.TotalPageCount)} ({total} workflows)</p>")
            .Append(Html.Paginator(pager).ToString())
            .Append(Html.PerPageSelector(pager).ToString())
            .Append("</div></div></div>");
        WriteLiteral(html.ToString());
    }

    /// <summary>The filters by type and hero id (the state's pill and the drift link's step kept as hidden fields).</summary>
    private static void AppendFilterForm(StringBuilder html, GenevaDriveRuntime runtime, Filter filter)
    {
        html.Append("<form class=\"form-inline genevadrive-filter\" method=\"get\" style=\"margin:15px 0\">");
        if (filter.State is { } s)
        {
            html.Append($"<input type=\"hidden\" name=\"state\" value=\"{E(s.ToStored())}\" />");
        }

        if (filter.AtStep is { } at)
        {
            html.Append($"<span class=\"label label-default genevadrive-at-step\">in flight at step {E(at)}</span> <input type=\"hidden\" name=\"at\" value=\"{E(at)}\" /> ");
        }

        html.Append("<label for=\"genevadrive-type\">Type&nbsp;</label><select id=\"genevadrive-type\" name=\"type\" class=\"form-control input-sm\"><option value=\"\">all types</option>");
        foreach (var name in runtime.Registry.Types.Select(runtime.Registry.NameOf).OrderBy(n => n, StringComparer.Ordinal))
        {
            html.Append($"<option value=\"{E(name)}\"{(name == filter.Type ? " selected" : string.Empty)}>{E(name)}</option>");
        }

        html.Append("</select> <label for=\"genevadrive-hero\">&nbsp;Hero id&nbsp;</label>")
            .Append($"<input id=\"genevadrive-hero\" name=\"hero\" class=\"form-control input-sm genevadrive-hero-search\" placeholder=\"e.g. 42\" value=\"{E(filter.Hero)}\" /> ")
            .Append("<button type=\"submit\" class=\"btn btn-sm btn-default\">Filter</button></form>");
    }

    /// <summary>The rows of the page; beside a parent's children, each says which of the parent's steps started it.</summary>
    private void AppendRows(StringBuilder html, GenevaDriveRuntime runtime, IReadOnlyList<WorkflowRecord> items, bool children)
    {
        html.Append("<div class=\"table-responsive\"><table class=\"table table-hover genevadrive-workflows\"><thead><tr>")
            .Append("<th>Id</th><th>Type</th><th>Hero</th><th>State</th><th>Current step</th><th>Next step</th>")
            .Append("<th title=\"Failed attempts tried again; each was a Succeeded Hangfire job, so Hangfire's Retries page does not count them\">Reattempts</th>")
            .Append("<th>Created</th><th>Updated</th>")
            .Append(IsReadOnly ? string.Empty : "<th><input type=\"checkbox\" class=\"genevadrive-select-all\" aria-label=\"Select every row on this page\" /></th>")
            .Append("</tr></thead><tbody>");
        // One grouped query for the page's rows.
        var reattempts = runtime.Store.CountReattemptsByWorkflowAsync(items.Select(w => w.Id).ToList()).GetAwaiter().GetResult();
        foreach (var w in items)
        {
            var link = Url.To($"/genevadrive/workflows/{w.Id}");
            var group = children ? $" <small class=\"text-muted genevadrive-group\" title=\"Started by the parent's step\">by {E(w.ParentStepName)}</small>" : string.Empty;
            html.Append($"<tr><td><a href=\"{E(link)}\">#{w.Id}</a></td><td><a href=\"{E(link)}\">{E(w.Type)}</a>{group}</td>")
                .Append($"<td>{E(w.HeroType)} {E(w.HeroId)}</td><td>{Label(w.State)}{Reason(w)}</td>")
                .Append($"<td>{E(w.CurrentStepName)}</td><td>{E(w.NextStepName)}</td>")
                .Append(reattempts.TryGetValue(w.Id, out var reattempted) ? $"<td class=\"genevadrive-reattempt-count\"><span class=\"label label-warning\">{reattempted}</span></td>" : "<td>0</td>")
                .Append($"<td>{Html.RelativeTime(w.CreatedAt)}</td><td>{Html.RelativeTime(w.UpdatedAt)}</td>")
                .Append(IsReadOnly ? string.Empty : $"<td><input type=\"checkbox\" class=\"genevadrive-select\" value=\"{w.Id}\" aria-label=\"Select #{w.Id}\" /></td>")
                .Append("</tr>");
        }

        html.Append("</tbody></table></div>");
    }

    /// <summary>A page of the list; its total comes from the counts (live on a small store, the latest count on a large one).</summary>
    private static (IReadOnlyList<WorkflowRecord> Items, long Total) Page(GenevaDriveRuntime runtime, Filter filter, int from, int count,
        WorkflowCounts.Snapshot counts)
    {
        var page = runtime.Store.GetPageItemsAsync(filter.State, filter.Type, from, count).GetAwaiter().GetResult();
        // Never fewer than the rows this page shows (a cached count may lag behind new workflows).
        return (page.Items, Math.Max(counts.Total(filter.State, filter.Type), from + page.Items.Count));
    }

    /// <summary>A page of the parent's children, newest first; the total is the sum of their counts by the step that started them.</summary>
    private static (IReadOnlyList<WorkflowRecord> Items, long Total) Children(GenevaDriveRuntime runtime, long parentId, int from, int count)
    {
        var items = runtime.Store.GetChildrenPageAsync(parentId, from, count).GetAwaiter().GetResult();
        var total = runtime.Store.CountChildrenOfParentAsync(parentId).GetAwaiter().GetResult().Values.Sum(g => g.Total);
        return (items, Math.Max(total, from + items.Count));
    }

    /// <summary>The heading of a parent's children: the parent linked, and the way back to every workflow.</summary>
    private string ChildrenHeading(GenevaDriveRuntime runtime, long parentId)
    {
        var parent = runtime.Store.GetWorkflowAsync(parentId).GetAwaiter().GetResult();
        var name = parent is null ? $"workflow #{parentId}" : $"{parent.Type} #{parentId}";
        return $"<h1 class=\"page-header genevadrive-children-of\">Children of <a href=\"{E(Url.To($"/genevadrive/workflows/{parentId}"))}\">{E(name)}</a></h1>" +
               $"<p class=\"text-muted\">The workflows its steps started, newest first. <a href=\"{E(Url.To("/genevadrive/workflows"))}\">All workflows</a></p>";
    }

    /// <summary>The logical attempt from which an ongoing workflow's current step counts as flapping.</summary>
    internal const int FlappingFrom = 3;

    /// <summary>The flapping list; its total is what this page shows, plus one more page while pages come back full.</summary>
    private static (IReadOnlyList<WorkflowRecord> Items, long Total) Flapping(GenevaDriveRuntime runtime, int from, int count)
    {
        var items = runtime.Store.GetFlappingAsync(FlappingFrom, from, count).GetAwaiter().GetResult();
        return (items, from + items.Count + (items.Count == count ? count : 0));
    }

    /// <summary>In-flight workflows of a type at one step (the drift report's links); the total comes from the latest report.</summary>
    private static (IReadOnlyList<WorkflowRecord> Items, long Total) AtStep(GenevaDriveRuntime runtime, string type, string step, Filter filter, int from, int count)
    {
        var items = runtime.Store.GetInFlightAtStepAsync(type, step, from, count).GetAwaiter().GetResult()
            .Where(w => filter.State is null || w.WorkflowState == filter.State).ToList();
        var reported = runtime.Drift.Latest?.Steps.Where(d => d.WorkflowName == type && d.StepName == step && (filter.State is null || d.State == filter.State))
            .Sum(d => d.Count) ?? 0;
        return (items, Math.Max(reported, from + items.Count));
    }

    /// <summary>
    /// The drift banner: in-flight workflows at steps (or of types) this build neither defines nor declares, each group
    /// linked to its list (where bulk actions can jump them). The first visit checks; later ones show the latest report
    /// and refresh it in the background.
    /// </summary>
    private void AppendDrift(StringBuilder html, GenevaDriveRuntime runtime)
    {
        DefinitionDrift? report;
        try
        {
            report = runtime.Drift.Peek() ?? runtime.Drift.CheckAsync().GetAwaiter().GetResult();
        }
        catch (System.Data.Common.DbException)
        {
            // The banner is advice: a database hiccup must not cost the operator the list.
            return;
        }

        var problems = report.Problems.GroupBy(p => (p.WorkflowName, p.StepName, p.Kind)).ToList();
        if (problems.Count == 0)
        {
            return;
        }

        html.Append("<div class=\"alert alert-warning genevadrive-drift\"><strong>Definition drift:</strong> ")
            .Append(CultureInfo.InvariantCulture, $"{report.ProblemCount} in-flight workflow(s) stand at steps this build cannot run or place. ")
            .Append("Deploy a build that defines them, declare <code>steps.Renamed</code> / <code>steps.Retired</code>, or select them and jump them to a defined step.<ul>");
        foreach (var group in problems)
        {
            var (workflow, step, kind) = group.Key;
            var states = string.Join(", ", group.OrderBy(g => g.State).Select(g => $"{g.Count} {g.State.ToStored()}"));
            var why = kind == DriftKind.WorkflowNotRegistered ? "workflow type not registered in this build" : "step not defined in this build";
            var link = Url.To("/genevadrive/workflows") + $"?type={Uri.EscapeDataString(workflow)}&at={Uri.EscapeDataString(step)}";
            html.Append($"<li><a href=\"{E(link)}\">{E(workflow)} › {E(step)}</a>: {E(states)} ({E(why)})</li>");
        }

        html.Append(CultureInfo.InvariantCulture, $"</ul><small class=\"text-muted\">Checked {Html.RelativeTime(report.CheckedAt.UtcDateTime)}.</small></div>");
    }

    /// <summary>Workflows about a hero with that id, of every registered hero type (each lookup uses the hero index).</summary>
    private static (IReadOnlyList<WorkflowRecord> Items, long Total) SearchByHero(GenevaDriveRuntime runtime, string heroId, Filter filter, int from, int count)
    {
        var heroTypes = runtime.Registry.Types
            .Select(t => runtime.Registry.TryGetDefinition(t)?.HeroType)
            .OfType<Type>()
            .Select(Heroes.HeroTypes.NameOf)
            .Distinct(StringComparer.Ordinal);
        var found = heroTypes
            .SelectMany(type => runtime.Store.GetByHeroAsync(type, heroId).GetAwaiter().GetResult())
            .Where(w => (filter.State is null || w.WorkflowState == filter.State) && (filter.Type is null || w.Type == filter.Type))
            .OrderByDescending(w => w.Id)
            .ToList();
        return (found.Skip(from).Take(count).ToList(), found.Count);
    }

    /// <summary>A state drawn by Hangfire's own state label, in the colour of the job state it resembles.</summary>
    private string Label(string state) => Html.StateLabel(HangfireStateFor(state), state).ToString();

    private string Pill(string text, Filter filter, bool active, long count) =>
        $"<li class=\"{(active ? "active" : string.Empty)}\"><a href=\"{E(Url.To("/genevadrive/workflows") + filter.Query(leading: '?'))}\">{E(text)} <span class=\"badge\">{count}</span></a></li>";

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    internal static WorkflowState? ParseState(string? value)
    {
        try
        {
            return string.IsNullOrWhiteSpace(value) ? null : StateNames.ParseWorkflowState(value);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The list's filters, kept across pages.</summary>
    private sealed record Filter(WorkflowState? State, string? Type, string? Hero, string? AtStep = null, bool Flapping = false, long? Parent = null)
    {
        public string Query(char leading)
        {
            var parts = new List<string>();
            if (Parent is { } parent)
            {
                parts.Add("parent=" + parent.ToString(CultureInfo.InvariantCulture));
            }

            if (Flapping)
            {
                parts.Add("flapping=1");
            }

            if (State is { } state)
            {
                parts.Add("state=" + Uri.EscapeDataString(state.ToStored()));
            }

            if (Type is not null)
            {
                parts.Add("type=" + Uri.EscapeDataString(Type));
            }

            if (Hero is not null)
            {
                parts.Add("hero=" + Uri.EscapeDataString(Hero));
            }

            if (AtStep is not null && Type is not null)
            {
                parts.Add("at=" + Uri.EscapeDataString(AtStep));
            }

            return parts.Count == 0 ? string.Empty : leading + string.Join("&", parts);
        }
    }

    /// <summary>
    /// Hangfire's pager, keeping the filters in its links. Its per-page links append <c>?from=0&amp;count=N</c> to
    /// <see cref="Pager.BasePageUrl"/>, so the base ends with a harmless <c>&amp;keep</c> that absorbs that <c>?</c>.
    /// </summary>
    private sealed class FilteredPager : Pager
    {
        private readonly string _list;
        private readonly Filter _filter;

        public FilteredPager(int from, int perPage, long total, string list, Filter filter)
            : base(from, perPage, DefaultPerPage, total)
        {
            _list = list;
            _filter = filter;
            BasePageUrl = list + (filter.Query('?') is { Length: > 0 } query ? query + "&keep" : string.Empty);
        }

        public override string PageUrl(int page) =>
            page < 1 || page > TotalPageCount
                ? "#"
                : _list + "?" + (_filter.Query('\0') is { Length: > 0 } query ? query[1..] + "&" : string.Empty) +
                  string.Create(CultureInfo.InvariantCulture, $"from={(page - 1) * RecordsPerPage}&count={RecordsPerPage}");
    }

    /// <summary>Why a paused or canceled workflow stopped, under its state (the whole text on hover), so the list says what needs doing.</summary>
    private static string Reason(Store.WorkflowRecord workflow) =>
        workflow.StateReason is { Length: > 0 } reason && workflow.State is "paused" or "canceled"
            ? $"<div class=\"text-muted small genevadrive-reason\" title=\"{E(reason)}\">{E(GenevaDrive.Dashboard.Html.Truncate(reason, 90))}</div>"
            : string.Empty;
}
