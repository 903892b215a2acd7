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
}
