using System.Diagnostics.Metrics;
using GenevaDrive.Storage;

namespace GenevaDrive.Execution;

/// <summary>
/// The <c>genevadrive.workflows</c> gauge of one runtime: workflows by state, read from the runtime's
/// <see cref="WorkflowCounts"/> (the same snapshot the dashboard shows), recounted in the background at most every
/// <see cref="WorkflowCounts.MaxAge"/>, so a metrics scrape never waits for the database.
/// </summary>
internal sealed class WorkflowStateGauge(WorkflowCounts counts)
{
    private volatile bool _stopped;

    /// <summary>Registers the gauge on the <c>GenevaDrive</c> meter, tagged with this runtime's storage.</summary>
    public void Register(string storage)
    {
        Telemetry.Meter.CreateObservableGauge("genevadrive.workflows", () => Observe(storage), "{workflow}",
            $"Workflows by state (counted at most every {WorkflowCounts.MaxAge.TotalSeconds:0} s; see genevadrive.workflows.age).");
        Telemetry.Meter.CreateObservableGauge("genevadrive.workflows.age", () => ObserveAge(storage), "s",
            "How old the counts reported by genevadrive.workflows are: it grows while counting fails.");
    }

    /// <summary>The age of the latest counts in seconds (nothing before the first).</summary>
    public IEnumerable<Measurement<double>> ObserveAge(string storage) =>
        _stopped || counts.Age is not { } age
            ? []
            : [new Measurement<double>(age.TotalSeconds, new KeyValuePair<string, object?>("storage", storage))];

    /// <summary>The latest counts (none before the first), starting a recount in the background when they are stale.</summary>
    public IEnumerable<Measurement<long>> Observe(string storage)
    {
        if (_stopped || counts.Peek() is not { } latest)
        {
            return [];
        }

        return latest.ByState().Select(kv => new Measurement<long>(kv.Value,
            new KeyValuePair<string, object?>("state", StateNames.ToStored(kv.Key)), new KeyValuePair<string, object?>("storage", storage)));
    }

    /// <summary>Counts now (also used by tests).</summary>
    public async Task RefreshAsync()
    {
        try
        {
            await counts.RecountAsync().ConfigureAwait(false);
        }
        catch (Exception) when (!_stopped)
        {
            // Metrics must never fail the host: the last counts stay, and the next scrape tries again.
        }
    }

    /// <summary>After the runtime is disposed the gauge reports nothing.</summary>
    public void Stop() => _stopped = true;
}
