using System.Globalization;

namespace GenevaDrive.Logging;

/// <summary>Durations as operators read them in logs and health reports: "800 ms", "15 s", "1.5 s", "5 min".</summary>
internal static class Durations
{
    public static string Describe(TimeSpan span) => span.TotalSeconds < 1
        ? $"{span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms"
        : span.TotalSeconds < 120
            ? $"{span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s"
            : $"{span.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture)} min";
}
