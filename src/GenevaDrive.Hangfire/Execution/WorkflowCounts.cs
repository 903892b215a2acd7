using System.Diagnostics;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>
/// The counts of workflows by type and state, one snapshot per runtime shared by the dashboard (the state pills, the
/// list's totals and the metrics) and the <c>genevadrive.workflows</c> gauge. On a small store the dashboard counts
/// afresh for every page. Once one count takes longer than <see cref="CheapCount"/>
/// (a large store: the grouped count reads the whole table) the page shows the latest counts with their age, and
/// a stale snapshot (older than <see cref="MaxAge"/>) is recounted in the background, one count at a time, so no
/// page ever waits for it after the first. A count that fails is logged; the latest snapshot keeps being served (with
/// its age), and until a recount succeeds pages do not count synchronously again.
/// </summary>
internal sealed class WorkflowCounts(WorkflowStore store, TimeProvider time, TimeSpan? cheapCount = null,
    Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private readonly TimeSpan _cheapCount = cheapCount ?? CheapCount;
    private readonly Microsoft.Extensions.Logging.ILogger _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private volatile bool _failing;

    /// <summary>A count faster than this is repeated for every page (the counts are exact).</summary>
    public static readonly TimeSpan CheapCount = TimeSpan.FromMilliseconds(15);

    /// <summary>How old cached counts may get before a page starts a recount in the background.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private Snapshot? _latest;
    private int _recounting;

    /// <summary>The counts at one moment, and how long taking them took.</summary>
    public sealed record Snapshot(IReadOnlyDictionary<(string Type, WorkflowState State), long> Counts, DateTime TakenAt, TimeSpan Took)
    {
        /// <summary>True when these counts were taken for this page (exact); false when they are cached.</summary>
        public bool Fresh { get; init; }

        /// <summary>Workflows in each state, every state present.</summary>
        public IReadOnlyDictionary<WorkflowState, long> ByState()
        {
            var counts = Enum.GetValues<WorkflowState>().ToDictionary(s => s, _ => 0L);
            foreach (var ((_, state), count) in Counts)
            {
                counts[state] += count;
            }

            return counts;
        }

        /// <summary>Workflows matching a list filter (either part may be null).</summary>
        public long Total(WorkflowState? state, string? type) =>
            Counts.Where(c => (state is null || c.Key.State == state) && (type is null || c.Key.Type == type)).Sum(c => c.Value);
    }

    /// <summary>The counts to show now: taken afresh on a small store, otherwise the latest (a stale one is recounted behind).</summary>
    public async Task<Snapshot> GetAsync(CancellationToken ct = default)
    {
        var latest = Volatile.Read(ref _latest);
        if (latest is null || (latest.Took < _cheapCount && !_failing))
        {
            try
            {
                return await CountAsync(ct).ConfigureAwait(false) with { Fresh = true };
            }
            catch (Exception) when (latest is not null && !ct.IsCancellationRequested)
            {
                // Logged by CountAsync: this page shows the latest counts with their age instead.
                return latest;
            }
        }

        RecountIfStale(latest);
        return latest;
    }

    /// <summary>How old the latest counts are (null before the first): the <c>genevadrive.workflows.age</c> gauge.</summary>
    public TimeSpan? Age => Volatile.Read(ref _latest) is { } latest ? time.GetUtcNow().UtcDateTime - latest.TakenAt : null;

    /// <summary>
    /// The latest counts without waiting (null before the first count), starting a recount in the background when
    /// there are none or they are older than <see cref="MaxAge"/>: what a metrics scrape reads.
    /// </summary>
    public Snapshot? Peek()
    {
        var latest = Volatile.Read(ref _latest);
        RecountIfStale(latest);
        return latest;
    }

    /// <summary>Counts now and keeps the result as the latest.</summary>
    public Task<Snapshot> RecountAsync(CancellationToken ct = default) => CountAsync(ct);

    private void RecountIfStale(Snapshot? latest)
    {
        if ((latest is null || time.GetUtcNow().UtcDateTime - latest.TakenAt > MaxAge) && Interlocked.CompareExchange(ref _recounting, 1, 0) == 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await CountAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Logged by CountAsync. The next reader tries again; until then it gets the counts there are, with their age.
                }
                finally
                {
                    Volatile.Write(ref _recounting, 0);
                }
            }, CancellationToken.None);
        }
    }

    private async Task<Snapshot> CountAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyDictionary<(string Type, WorkflowState State), long> counts;
        try
        {
            counts = await store.CountByTypeAndStateAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            _failing = true;
            Logging.RuntimeLog.CountFailed(_logger, e, Volatile.Read(ref _latest)?.TakenAt);
            throw;
        }

        _failing = false;
        var snapshot = new Snapshot(counts, time.GetUtcNow().UtcDateTime, clock.Elapsed);
        Volatile.Write(ref _latest, snapshot);
        return snapshot;
    }
}
