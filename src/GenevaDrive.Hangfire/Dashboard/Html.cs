using System.Globalization;
using System.Net;

namespace GenevaDrive.Dashboard;

/// <summary>Small helpers for the dashboard pages. Every value from the database or the request goes through <see cref="E"/>.</summary>
internal static class Html
{
    public static string E(object? value) => WebUtility.HtmlEncode(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty);

    public static string Time(DateTime? utc) =>
        utc is { } t ? $"<span title=\"{E(t.ToString("O", CultureInfo.InvariantCulture))}\">{E(t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))}</span>" : "<span class=\"text-muted\">—</span>";

    public static string StateLabel(string state) => state switch
    {
        "ready" or "scheduled" => $"<span class=\"label label-info\">{E(state)}</span>",
        "performing" or "in_progress" => $"<span class=\"label label-warning\">{E(state)}</span>",
        "paused" or "failed" => $"<span class=\"label label-danger\">{E(state)}</span>",
        "finished" or "completed" => $"<span class=\"label label-success\">{E(state)}</span>",
        _ => $"<span class=\"label label-default\">{E(state)}</span>",
    };

    public static string Truncate(string? text, int length) =>
        text is null ? string.Empty : text.Length <= length ? text : string.Concat(text.AsSpan(0, length), "…");
}
