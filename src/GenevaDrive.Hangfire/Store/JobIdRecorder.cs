using Microsoft.Extensions.Logging;

namespace GenevaDrive.Store;

/// <summary>
/// Writes the ids of newly created step jobs to their executions in batches, off the path of the step that created them.
/// </summary>
/// <remarks>
/// <para>
/// A job id is a hint, not a fact to keep: the claim writes the running job's id itself, and the reconciler creates a job
/// for an execution that has none after the dispatch grace period (a duplicate job is a no-op at claim). So the write need not
/// hold up the worker that created the job, and the ids of jobs created close together share one write: while one batch is
/// written, the next collects, and the first id of a batch waits <see cref="Linger"/> for others (a flush cuts that short).
/// </para>
/// <para>
/// What is lost in a crash is only the ids not yet written: their executions get their ids from their claims, or, if a job
/// waits longer than the grace period, a second job the claim makes a no-op. <see cref="FlushAsync"/> waits for every id
/// recorded before the call (reads that show job ids, cancels and pauses that delete pending jobs, shutdown).
/// </para>
/// </remarks>
internal sealed class JobIdRecorder
{
    /// <summary>The most ids one write carries (SQL Server takes at most 2,100 parameters per command).</summary>
    internal const int MaxBatch = 500;

    /// <summary>
    /// How long the first id of a batch waits for others (unless a flush is asked for): at a few hundred steps a second this
    /// turns one write per step into one per 20 or more steps, and no one waits for it (a read that needs the ids asks at once).
    /// </summary>
    internal static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(100);

    private readonly Func<IReadOnlyList<(long ExecutionId, string JobId)>, CancellationToken, Task> _write;
    private readonly ILogger? _logger;
    private readonly object _gate = new();
    private List<(long ExecutionId, string JobId)> _pending = [];
    private TaskCompletionSource _pendingWritten = NewSource();
    private Task _inFlight = Task.CompletedTask;
    private TaskCompletionSource _flushAsked = NewSource();
    private bool _running;
    private readonly bool _inline;

    /// <param name="write">Writes a batch of ids.</param>
    /// <param name="logger">Where a failed write is logged.</param>
    /// <param name="inline">True to write each id in the recording call (a database with one writer at a time: see <see cref="Storage.SqlDialect.SingleWriter"/>).</param>
    public JobIdRecorder(Func<IReadOnlyList<(long ExecutionId, string JobId)>, CancellationToken, Task> write, ILogger? logger, bool inline = false)
    {
        _write = write;
        _logger = logger;
        _inline = inline;
    }

    /// <summary>The number of ids recorded and not yet written (for tests).</summary>
    internal int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Records that <paramref name="jobId"/> runs execution <paramref name="executionId"/>: written soon, in a batch (the task is
    /// complete at once), or, for a database with one writer at a time, now (the task is the write).
    /// </summary>
    public Task RecordAsync(long executionId, string jobId, CancellationToken ct = default)
    {
        if (_inline)
        {
            return _write([(executionId, jobId)], ct);
        }

        Record(executionId, jobId);
        return Task.CompletedTask;
    }

    /// <summary>Records that <paramref name="jobId"/> runs execution <paramref name="executionId"/>; written soon, in a batch.</summary>
    public void Record(long executionId, string jobId)
    {
        lock (_gate)
        {
            _pending.Add((executionId, jobId));
            if (!_running)
            {
                _running = true;
                _ = Task.Run(WriteAllAsync);
            }
        }
    }

    /// <summary>Completes when every id recorded before the call has been written (or its write has failed and been logged).</summary>
    public Task FlushAsync()
    {
        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                return _inFlight;
            }

            _flushAsked.TrySetResult();
            return _pendingWritten.Task;
        }
    }

    private async Task WriteAllAsync()
    {
        while (true)
        {
            Task asked;
            lock (_gate)
            {
                asked = _flushAsked.Task;
            }

            await Task.WhenAny(asked, Task.Delay(Linger)).ConfigureAwait(false);
            List<(long ExecutionId, string JobId)> batch;
            TaskCompletionSource written;
            lock (_gate)
            {
                if (_flushAsked.Task.IsCompleted)
                {
                    _flushAsked = NewSource();
                }

                if (_pending.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = _pending;
                written = _pendingWritten;
                _pending = [];
                _pendingWritten = NewSource();
                _inFlight = written.Task;
            }

            try
            {
                // One execution's id once (the last recorded wins, as a direct write would), in id order: concurrent writers
                // from several processes then lock rows in one order.
                var rows = batch.GroupBy(r => r.ExecutionId).Select(g => g.Last()).OrderBy(r => r.ExecutionId).ToList();
                for (var i = 0; i < rows.Count; i += MaxBatch)
                {
                    await _write(rows.GetRange(i, Math.Min(MaxBatch, rows.Count - i)), CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                // Nothing is lost: the claims write these ids, and the reconciler adds jobs to executions that still have none.
                if (_logger is not null)
                {
                    Logging.StorageLog.JobIdsNotWritten(_logger, e, batch.Count, e.Message);
                }
            }
            finally
            {
                written.TrySetResult();
            }
        }
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
