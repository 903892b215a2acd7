using System.Globalization;
using System.Text;
using GenevaDrive.Execution;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using static GenevaDrive.Dashboard.Html;

namespace GenevaDrive.Dashboard;

/// <summary>The Workflows page: counts by state, a list filterable by state and type, newest first, paged.</summary>
internal sealed class WorkflowsPage(Func<Hangfire.JobStorage, GenevaDriveRuntime> runtimeFor) : RazorPage
{
    private const int PageSize = 25;

    public override void Execute()
    {
        var runtime = runtimeFor(Storage);
        Layout = new LayoutPage("Workflows");
        var stateFilter = ParseState(Query("state"));
        var typeFilter = string.IsNullOrWhiteSpace(Query("type")) ? null : Query("type");
        var page = int.TryParse(Query("page"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0 ? p : 1;
        var counts = runtime.Store.CountByStateAsync().GetAwaiter().GetResult();
        var result = runtime.Store.GetPageAsync(stateFilter, typeFilter, (page - 1) * PageSize, PageSize).GetAwaiter().GetResult();

        var html = new StringBuilder();
        html.Append("<div class=\"row\"><div class=\"col-md-12\"><h1 class=\"page-header\">Workflows</h1>");
        html.Append("<ul class=\"nav nav-pills genevadrive-states\">");
        html.Append(Pill("All", null, typeFilter, stateFilter is null, counts.Values.Sum()));
        foreach (var (state, count) in counts)
        {
            html.Append(Pill(state.ToStored(), state, typeFilter, stateFilter == state, count));
        }

        html.Append("</ul>");
        html.Append("<form class=\"form-inline genevadrive-filter\" method=\"get\" style=\"margin:15px 0\">");
        if (stateFilter is { } s)
        {
            html.Append($"<input type=\"hidden\" name=\"state\" value=\"{E(s.ToStored())}\" />");
        }

        html.Append("<label for=\"genevadrive-type\">Type&nbsp;</label><select id=\"genevadrive-type\" name=\"type\" class=\"form-control input-sm\"><option value=\"\">all types</option>");
        foreach (var name in runtime.Registry.Types.Select(runtime.Registry.NameOf).OrderBy(n => n, StringComparer.Ordinal))
        {
            html.Append($"<option value=\"{E(name)}\"{(name == typeFilter ? " selected" : string.Empty)}>{E(name)}</option>");
        }

        html.Append("</select> <button type=\"submit\" class=\"btn btn-sm btn-default\">Filter</button></form>");

        if (result.Items.Count == 0)
        {
            html.Append("<div class=\"alert alert-info\">No workflows match.</div>");
        }
        else
        {
            html.Append("<div class=\"table-responsive\"><table class=\"table table-hover genevadrive-workflows\"><thead><tr>")
                .Append("<th>Id</th><th>Type</th><th>Hero</th><th>State</th><th>Current step</th><th>Next step</th><th>Created</th><th>Updated</th></tr></thead><tbody>");
            foreach (var w in result.Items)
            {
                var link = Url.To($"/genevadrive/workflows/{w.Id}");
                html.Append($"<tr><td><a href=\"{E(link)}\">#{w.Id}</a></td><td><a href=\"{E(link)}\">{E(w.Type)}</a></td>")
                    .Append($"<td>{E(w.HeroType)} {E(w.HeroId)}</td><td>{StateLabel(w.State)}</td>")
                    .Append($"<td>{E(w.CurrentStepName)}</td><td>{E(w.NextStepName)}</td><td>{Time(w.CreatedAt)}</td><td>{Time(w.UpdatedAt)}</td></tr>");
            }

            html.Append("</tbody></table></div>");
            var pages = (int)Math.Max(1, (result.Total + PageSize - 1) / PageSize);
            html.Append($"<div class=\"genevadrive-pager\">Page {page} of {pages} ({result.Total} workflows) ");
            if (page > 1)
            {
                html.Append($"<a class=\"btn btn-sm btn-default\" href=\"{E(PageLink(stateFilter, typeFilter, page - 1))}\">Newer</a> ");
            }

            if (page < pages)
            {
                html.Append($"<a class=\"btn btn-sm btn-default\" href=\"{E(PageLink(stateFilter, typeFilter, page + 1))}\">Older</a>");
            }

            html.Append("</div>");
        }

        html.Append("</div></div>");
        WriteLiteral(html.ToString());
    }

    private string Pill(string text, WorkflowState? state, string? type, bool active, long count) =>
        $"<li class=\"{(active ? "active" : string.Empty)}\"><a href=\"{E(PageLink(state, type, 1))}\">{E(text)} <span class=\"badge\">{count}</span></a></li>";

    private string PageLink(WorkflowState? state, string? type, int page)
    {
        var query = new List<string>();
        if (state is { } s)
        {
            query.Add("state=" + Uri.EscapeDataString(s.ToStored()));
        }

        if (type is not null)
        {
            query.Add("type=" + Uri.EscapeDataString(type));
        }

        if (page > 1)
        {
            query.Add("page=" + page.ToString(CultureInfo.InvariantCulture));
        }

        return Url.To("/genevadrive/workflows") + (query.Count > 0 ? "?" + string.Join("&", query) : string.Empty);
    }

    private static WorkflowState? ParseState(string? value)
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
}
