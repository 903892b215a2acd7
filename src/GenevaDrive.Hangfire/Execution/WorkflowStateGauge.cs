using System.Diagnostics.Metrics;
using GenevaDrive.Storage;

namespace GenevaDrive.Execution;

/// <summary>
/// The <c>genevadrive.workflows</c> gauge of one runtime: workflows by state, counted at most every
/// <see cref="MaxAge"/> in the background, so a metrics scrape never waits for the database.
/// </summary>
internal sealed class WorkflowStateGauge
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private readonly WorkflowStore _store;
    private readonly TimeProvider _time;
    private IReadOnlyDictionary<WorkflowState, long> _counts = new Dictionary<WorkflowState, long>();
    private DateTimeOffset _countedAt = DateTimeOffset.MinValue;
    private int _refreshing;
    private volatile bool _stopped;

    public WorkflowStateGauge(WorkflowStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
    }

    /// <summary>Registers the gauge on the <c>GenevaDrive</c> meter, tagged with this runtime's storage.</summary>
    public void Register(string storage) =>
        Telemetry.Meter.CreateObservableGauge("genevadrive.workflows", () => Observe(storage), "{workflow}",
            $"Workflows by state (counted at most every {MaxAge.TotalSeconds:0} s).");

    /// <summary>The last counts, starting a recount in the background when they are older than <see cref="MaxAge"/>.</summary>
    public IEnumerable<Measurement<long>> Observe(string storage)
    {
        if (_stopped)
        {
            return [];
        }

        if (_time.GetUtcNow() - _countedAt >= MaxAge && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
        {
            _ = RefreshAsync();
        }

        return Volatile.Read(ref _counts).Select(kv => new Measurement<long>(kv.Value,
            new KeyValuePair<string, object?>("state", StateNames.ToStored(kv.Key)), new KeyValuePair<string, object?>("storage", storage)));
    }

    /// <summary>Counts now (also used by tests).</summary>
    public async Task RefreshAsync()
    {
        try
        {
            var counts = await _store.CountByStateAsync().ConfigureAwait(false);
            Volatile.Write(ref _counts, counts);
            _countedAt = _time.GetUtcNow();
        }
        catch (Exception) when (!_stopped)
        {
            // Metrics must never fail the host: the last counts stay, and the next scrape tries again.
        }
        finally
        {
            Volatile.Write(ref _refreshing, 0);
        }
    }

    /// <summary>After the runtime is disposed the gauge reports nothing.</summary>
    public void Stop() => _stopped = true;
}
