using System.Globalization;
using System.Net;

namespace GenevaDrive.Dashboard;

/// <summary>Small helpers for the dashboard pages. Every value from the database or the request goes through <see cref="E"/>.</summary>
internal static class Html
{
    public static string E(object? value) => WebUtility.HtmlEncode(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty);

    /// <summary>
    /// The Hangfire job state whose colour a workflow or step execution state borrows, so that Hangfire's own
    /// <c>HtmlHelper.StateLabel</c> draws it: waiting is blue, running amber, paused or failed red, done green,
    /// canceled or skipped grey.
    /// </summary>
    public static string HangfireStateFor(string state) => state switch
    {
        "ready" => "Enqueued",
        "scheduled" => "Scheduled",
        "performing" or "in_progress" => "Processing",
        "paused" or "failed" => "Failed",
        "finished" or "completed" => "Succeeded",
        _ => "Deleted",
    };

    public static string Truncate(string? text, int length) =>
        text is null ? string.Empty : text.Length <= length ? text : string.Concat(text.AsSpan(0, length), "…");
}
