using System.Diagnostics.Metrics;
using GenevaDrive.Definition;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Microsoft.Extensions.Logging;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>
/// Compares the steps in-flight workflows stand at with this build's definitions (one grouped query of the in-flight
/// rows), for the client, the dashboard's banner, the start-up log and the <c>genevadrive.definition_drift</c> gauge.
/// The latest report is kept; the gauge and the dashboard read it and refresh it in the background when it is older than
/// <see cref="MaxAge"/>.
/// </summary>
internal sealed class DefinitionDriftCheck(WorkflowRegistry registry, WorkflowStore store, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(60);

    private DefinitionDrift? _latest;
    private int _refreshing;
    private volatile bool _stopped;

    /// <summary>The latest report, or null before the first.</summary>
    public DefinitionDrift? Latest => Volatile.Read(ref _latest);

    public async Task<DefinitionDrift> CheckAsync(CancellationToken ct = default)
    {
        var rows = await store.CountInFlightByStepAsync(ct).ConfigureAwait(false);
        var steps = new List<DriftedStep>();
        foreach (var (type, stepName, state, count) in rows)
        {
            if (stepName is null)
            {
                continue;
            }

            var workflowType = registry.FindType(type);
            DriftKind? kind = workflowType is null
                ? DriftKind.WorkflowNotRegistered
                : registry.GetDefinition(workflowType).Resolve(stepName).Kind switch
                {
                    StepNameKind.Unknown => DriftKind.StepNotDefined,
                    StepNameKind.Renamed => DriftKind.Renamed,
                    StepNameKind.Retired => DriftKind.Retired,
                    _ => null,
                };
            if (kind is { } drift)
            {
                steps.Add(new DriftedStep(type, stepName, state, count, drift));
            }
        }

        var report = new DefinitionDrift(steps.OrderByDescending(s => s.IsProblem).ThenBy(s => s.WorkflowName, StringComparer.Ordinal)
            .ThenBy(s => s.StepName, StringComparer.Ordinal).ThenBy(s => s.State).ToList(), time.GetUtcNow());
        Volatile.Write(ref _latest, report);
        return report;
    }

    /// <summary>Checks once at start-up and logs every group this build cannot carry on (a warning each), never failing the host.</summary>
    public async Task LogAtStartupAsync()
    {
        try
        {
            var report = await CheckAsync().ConfigureAwait(false);
            foreach (var group in report.Problems)
            {
                RuntimeLog.DefinitionDrift(logger, group.Count, group.State.ToString().ToLowerInvariant(), group.WorkflowName, group.StepName,
                    group.Kind == DriftKind.WorkflowNotRegistered ? "its workflow type is not registered in this build" : "this build neither defines nor declares the step");
            }
        }
        catch (Exception e) when (!_stopped)
        {
            RuntimeLog.DefinitionDriftFailed(logger, e);
        }
    }

    /// <summary>The latest report; a stale one starts a check in the background (callers never wait for the database).</summary>
    public DefinitionDrift? Peek()
    {
        var latest = Latest;
        if (!_stopped && (latest is null || time.GetUtcNow() - latest.CheckedAt > MaxAge) && Interlocked.Exchange(ref _refreshing, 1) == 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await CheckAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (!_stopped)
                {
                    RuntimeLog.DefinitionDriftFailed(logger, e);
                }
                finally
                {
                    Volatile.Write(ref _refreshing, 0);
                }
            });
        }

        return latest;
    }

    /// <summary>Registers the <c>genevadrive.definition_drift</c> gauge: in-flight workflows at steps this build cannot run.</summary>
    public void RegisterGauge(string storage) =>
        Telemetry.Meter.CreateObservableGauge("genevadrive.definition_drift", () => Observe(storage), "{workflow}",
            "In-flight workflows standing at a step (or of a type) this build neither defines nor declares, by workflow and step.");

    private IEnumerable<Measurement<long>> Observe(string storage) =>
        _stopped || Peek() is not { } report
            ? []
            : report.Problems.GroupBy(p => (p.WorkflowName, p.StepName)).Select(g => new Measurement<long>(g.Sum(p => p.Count),
                new KeyValuePair<string, object?>("workflow", g.Key.WorkflowName), new KeyValuePair<string, object?>("step", g.Key.StepName),
                new KeyValuePair<string, object?>("storage", storage)));

    public void Stop() => _stopped = true;
}
