using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace GenevaDrive.Execution;

/// <summary>The <see cref="ActivitySource"/> and <see cref="Meter"/> named <c>GenevaDrive</c>.</summary>
internal static class Telemetry
{
    public const string Name = "GenevaDrive";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Meter Meter = new(Name);

    public static readonly Counter<long> StepOutcomes = Meter.CreateCounter<long>("genevadrive.step.outcomes", description: "Step executions by outcome.");

    public static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("genevadrive.step.duration", "ms", "Time spent running a step.");

    public static readonly Histogram<double> ScheduleDelay = Meter.CreateHistogram<double>("genevadrive.step.schedule_delay", "ms",
        "How late a step started: the time from when it was due (its wait, or the event that woke it) to when a worker claimed it.");

    public static readonly UpDownCounter<long> StepsInProgress = Meter.CreateUpDownCounter<long>("genevadrive.steps.in_progress", "{step}",
        "Steps running in this process now.");

    /// <summary>The caller's W3C trace context (<c>traceparent</c>), kept with a started workflow or a sent event.</summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;

    /// <summary>Reads a stored <c>traceparent</c>; default when there is none or it is malformed.</summary>
    public static ActivityContext ContextOf(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, isRemote: true, out var context) ? context : default;
}
