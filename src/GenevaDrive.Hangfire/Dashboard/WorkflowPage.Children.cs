using System.Globalization;
using System.Text;
using static GenevaDrive.Dashboard.Html;

namespace GenevaDrive.Dashboard;

// Child workflows on a workflow's page: a parent's children counted by the step that started them (each group linked to the
// list of the children), and a child's parent.
internal sealed partial class WorkflowPage
{
    /// <summary>The Workflows list filtered to the children of <paramref name="parentId"/>.</summary>
    private string ChildrenListUrl(long parentId) =>
        Url.To("/genevadrive/workflows") + "?parent=" + parentId.ToString(CultureInfo.InvariantCulture);

    /// <summary>For a child: its parent and the parent's step that started it; nothing for any other workflow.</summary>
    private string Parent(Store.WorkflowRecord workflow)
    {
        if (workflow.ParentWorkflowId is not { } parentId)
        {
            return string.Empty;
        }

        var id = parentId.ToString(CultureInfo.InvariantCulture);
        return $"<dt>Parent</dt><dd class=\"genevadrive-parent\"><a href=\"{E(Url.To("/genevadrive/workflows/" + id))}\">workflow #{id}</a>" +
               $" (step '{E(workflow.ParentStepName ?? "?")}'); <a href=\"{E(ChildrenListUrl(parentId))}\">all its children</a></dd>";
    }

    /// <summary>
    /// For a parent: each group of children (the step that started them, in the definition's order) with its progress
    /// ("412 of 500 finished", then the canceled, paused and running ones), a bar, the counts by state and a link to the list
    /// of the children. Nothing for a workflow that started none.
    /// </summary>
    private void AppendChildren(StringBuilder html, Store.WorkflowRecord workflow)
    {
        var groups = _runtime.Store.CountChildrenOfParentAsync(workflow.Id).GetAwaiter().GetResult();
        if (groups.Count == 0)
        {
            return;
        }

        var steps = (_runtime.Registry.FindType(workflow.Type) is { } type ? _runtime.Registry.GetDefinition(type).Steps.Names : [])
            .Select((name, index) => (name, index)).ToDictionary(s => s.name, s => s.index, StringComparer.Ordinal);
        var list = ChildrenListUrl(workflow.Id);
        html.Append("<h3>Children</h3><table class=\"table table-condensed genevadrive-children\"><thead><tr><th>Started by step</th><th>Progress</th>")
            .Append("<th>Ready</th><th>Performing</th><th>Paused</th><th>Finished</th><th>Canceled</th><th></th></tr></thead><tbody>");
        foreach (var (group, counts) in groups.OrderBy(g => steps.GetValueOrDefault(g.Key, int.MaxValue)).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            var running = counts.Ready + counts.Performing;
            html.Append($"<tr class=\"genevadrive-child-group\"><td><code>{E(group)}</code></td><td class=\"genevadrive-children-progress\">")
                .Append(CultureInfo.InvariantCulture, $"<strong>{counts.Finished} of {counts.Total} finished</strong>, ")
                .Append(CultureInfo.InvariantCulture, $"{counts.Canceled} canceled, {counts.Paused} paused, {running} running")
                .Append(ProgressBar(counts)).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{counts.Ready}</td><td>{counts.Performing}</td>")
                .Append(counts.Paused > 0 ? $"<td><span class=\"label label-danger\">{counts.Paused}</span></td>" : "<td>0</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{counts.Finished}</td><td>{counts.Canceled}</td>")
                .Append($"<td><a class=\"genevadrive-children-list\" href=\"{E(list)}\">List the children</a></td></tr>");
        }

        html.Append("</tbody></table>");
    }

    /// <summary>The group's children as one bar: finished green, canceled grey, paused red; the rest (running) left empty.</summary>
    private static string ProgressBar(Store.ChildCounts counts)
    {
        var bar = new StringBuilder("<div class=\"progress\" style=\"height:8px;margin:4px 0 0\">");
        foreach (var (count, what, css, color) in new[]
                 {
                     (counts.Finished, "finished", "progress-bar-success", string.Empty),
                     (counts.Canceled, "canceled", string.Empty, "background-color:#999999;"),
                     (counts.Paused, "paused", "progress-bar-danger", string.Empty),
                 })
        {
            if (count > 0)
            {
                bar.Append(CultureInfo.InvariantCulture,
                    $"<div class=\"progress-bar {css}\" title=\"{count} {what}\" style=\"{color}width:{100.0 * count / counts.Total:0.##}%\"></div>");
            }
        }

        return bar.Append("</div>").ToString();
    }
}
