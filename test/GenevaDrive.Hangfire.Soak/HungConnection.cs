using Dapper;
using Npgsql;

namespace GenevaDrive.Soak;

/// <summary>A client session as PostgreSQL saw it (pg_stat_activity).</summary>
internal sealed record ServerSession(int Pid, int? ClientPort, string? State, string? WaitEventType, double? TransactionSeconds,
    double? QuerySeconds, string? Query, string Blockers)
{
    /// <summary>The server pids whose locks this session waits for.</summary>
    public IEnumerable<int> BlockerPids => Blockers.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>
/// The hung-connection fault: one worker reaches PostgreSQL through a <see cref="HangingProxy"/>, which hangs
/// once for longer than the lease. At the hang it notes which step executions that worker's Hangfire jobs
/// hold, then watches until each of those steps has a completed execution again (the recovery).
/// </summary>
internal sealed class HungConnection(HangingProxy proxy, SoakLedger ledger, string runId, TimeSpan startAfter, TimeSpan duration)
{
    private readonly List<Held> _held = [];
    private List<ServerSession> _sessions = [];
    private List<(string Resource, double Seconds)> _hangfireLocks = [];
    private List<(string Queue, long Waiting, long Fetched)> _queues = [];
    private IReadOnlyList<int> _hungPorts = [];
    private string? _snapshotProblem;

    public TimeSpan Duration => duration;

    /// <summary>The worker process behind the proxy when the path hung.</summary>
    public int Pid { get; private set; }

    public TimeSpan? HungAt { get; private set; }

    public TimeSpan? ResumedAt { get; private set; }

    public int ConnectionsHeld { get; private set; }

    public int ConnectionsClosed { get; private set; }

    public bool IsHung => HungAt is not null && ResumedAt is null;

    public bool IsDue(TimeSpan now) => HungAt is null && now >= startAfter;

    /// <summary>Hangs the path, then records what the worker behind it holds (read directly, not through the proxy).</summary>
    public async Task HangAsync(int pid, TimeSpan now)
    {
        Pid = pid;
        HungAt = now;
        ConnectionsHeld = proxy.Hang();
        // The step executions whose Hangfire job is Processing on that worker's server (claimed, or being claimed).
        var held = await ledger.WriteAsync(c => c.QueryAsync<(long Id, long WorkflowId, string Step)>(
            $"SELECT e.\"Id\", e.\"WorkflowId\", e.\"StepName\" FROM \"gd_{runId}\".\"StepExecutions\" e " +
            $"JOIN \"hf_{runId}\".job j ON j.id::text = e.\"JobId\" JOIN \"hf_{runId}\".state s ON s.id = j.stateid " +
            "WHERE e.\"State\" IN ('scheduled', 'in_progress') AND j.statename = 'Processing' AND s.data ->> 'ServerId' LIKE @server;",
            new { server = $"soak-{pid}:%" }));
        _held.AddRange(held.Select(h => new Held(h.Id, h.WorkflowId, h.Step)));
    }

    /// <summary>
    /// What the server holds for the hung worker just before the resume: its sessions (told apart by the proxy's
    /// upstream ports), the transactions they left open, and who waits on their locks.
    /// </summary>
    public async Task SnapshotServerAsync()
    {
        _hungPorts = [.. proxy.UpstreamPorts()];
        try
        {
            _sessions = [.. await ledger.WriteAsync(c => c.QueryAsync<ServerSession>(
                "SELECT pid AS Pid, client_port AS ClientPort, state AS State, wait_event_type AS WaitEventType, " +
                "EXTRACT(EPOCH FROM now() - xact_start)::float8 AS TransactionSeconds, EXTRACT(EPOCH FROM now() - query_start)::float8 AS QuerySeconds, " +
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS Query, array_to_string(pg_blocking_pids(pid), ',') AS Blockers " +
                "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid();"))];
            // Hangfire.PostgreSql's distributed locks are rows that live until released or 10 minutes old; recurring jobs need one.
            _hangfireLocks = [.. await ledger.WriteAsync(c => c.QueryAsync<(string Resource, double Seconds)>(
                $"SELECT resource, EXTRACT(EPOCH FROM now() - acquired)::float8 FROM \"hf_{runId}\".lock ORDER BY acquired;"))];
            _queues = [.. await ledger.WriteAsync(c => c.QueryAsync<(string Queue, long Waiting, long Fetched)>(
                "SELECT queue, COUNT(*) FILTER (WHERE fetchedat IS NULL), COUNT(fetchedat) " +
                $"FROM \"hf_{runId}\".jobqueue GROUP BY queue ORDER BY queue;"))];
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // A diagnostic only: the resume must happen all the same.
            _snapshotProblem = e.Message;
        }
    }



    public void Resume(TimeSpan now)
    {
        ConnectionsClosed = proxy.Resume();
        ResumedAt = now;
    }

    /// <summary>How many step executions the worker held when its path hung.</summary>
    public int HeldCount => _held.Count;

    /// <summary>Polls every half second until every held step has completed again, or <paramref name="stop"/> fires.</summary>
    public async Task WatchRecoveryAsync(Func<TimeSpan> clock, CancellationToken stop)
    {
        while (_held.Any(h => h.StepCompleted is null) && !stop.IsCancellationRequested)
        {
            await PollAsync(clock());
            try
            {
                await Task.Delay(500, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Notes, as of <paramref name="now"/>, which held attempts have been closed and which held steps have completed.</summary>
    public async Task PollAsync(TimeSpan now)
    {
        if (_held.All(h => h.StepCompleted is not null))
        {
            return;
        }

        var workflowIds = _held.Select(h => h.WorkflowId).Distinct().ToArray();
        var rows = (await ledger.WriteAsync(c => c.QueryAsync<(long Id, long WorkflowId, string Step, string State)>(
            $"SELECT \"Id\", \"WorkflowId\", \"StepName\", \"State\" FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"WorkflowId\" = ANY(@workflowIds);",
            new { workflowIds }))).ToList();
        foreach (var held in _held)
        {
            held.AttemptClosed ??= rows.Any(r => r.Id == held.ExecutionId && r.State is not ("scheduled" or "in_progress")) ? now : null;
            held.StepCompleted ??= rows.Any(r => r.WorkflowId == held.WorkflowId && r.Step == held.Step && r.State == "completed") ? now : null;
        }
    }

    /// <summary>The report's lines on this fault: what hung, what the worker held, how those attempts ended, how long recovery took.</summary>
    public async Task<List<string>> ReportAsync()
    {
        var lines = new List<string>();
        if (HungAt is not { } hungAt)
        {
            lines.Add("- not injected: the run ended before the proxied worker could be hung.");
            return lines;
        }

        var resumedAt = ResumedAt ?? hungAt + duration;
        lines.Add($"- pid {Pid}'s path to PostgreSQL hung at {Seconds(hungAt)} for {Seconds(resumedAt - hungAt)} " +
                  $"({ConnectionsHeld} open connection(s) held without a byte moved); at {Seconds(resumedAt)} the proxy closed " +
                  $"{ConnectionsClosed} stuck connection(s) and forwarded new ones again.");
        lines.AddRange(ServerLines());
        if (_held.Count == 0)
        {
            lines.Add($"- pid {Pid} held no step execution when the path hung.");
            return lines;
        }

        var ids = _held.Select(h => h.ExecutionId).ToArray();
        var attempts = (await ledger.WriteAsync(c => c.QueryAsync<(long Id, string State, string? Outcome, string? Error)>(
            $"SELECT \"Id\", \"State\", \"Outcome\", \"ErrorMessage\" FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"Id\" = ANY(@ids);", new { ids })))
            .ToDictionary(a => a.Id);
        var workflowIds = _held.Select(h => h.WorkflowId).Distinct().ToArray();
        var effects = (await ledger.WriteAsync(c => c.QueryAsync<(long WorkflowId, string Step, int Pid)>(
            $"SELECT workflow_id, step, pid FROM \"{ledger.Schema}\".effects WHERE workflow_id = ANY(@workflowIds);", new { workflowIds }))).ToList();

        var endings = _held.GroupBy(h => attempts.TryGetValue(h.ExecutionId, out var a) ? a.Outcome ?? a.State : "deleted")
            .Select(g => $"{g.Key} {g.Count()}");
        var byHungWorker = _held.Count(h => effects.Any(e => e.WorkflowId == h.WorkflowId && e.Step == h.Step && e.Pid == Pid));
        var byOthers = _held.Count(h => effects.Any(e => e.WorkflowId == h.WorkflowId && e.Step == h.Step && e.Pid != Pid));
        lines.Add($"- step executions it held then: {_held.Count} (ids {string.Join(", ", ids)}); those attempts ended as: {string.Join(", ", endings)}.");
        foreach (var error in attempts.Values.Select(a => a.Error).OfType<string>().Distinct().Take(2))
        {
            var flat = error.ReplaceLineEndings(" ");
            lines.Add($"- recorded on a held attempt: \"{(flat.Length > 240 ? flat[..240] + "…" : flat)}\"");
        }

        lines.Add($"- their steps' side effects were written by another worker for {byOthers}, by the hung worker itself for {byHungWorker}.");

        var closed = _held.Where(h => h.AttemptClosed is not null).Select(h => h.AttemptClosed!.Value).ToList();
        if (closed.Count > 0)
        {
            lines.Add($"- held attempts closed (fenced and recorded, or taken over): first {Seconds(closed.Min() - hungAt)} after the hang began, last {Seconds(closed.Max() - hungAt)}.");
        }

        if (_held.All(h => h.StepCompleted is not null))
        {
            var last = _held.Max(h => h.StepCompleted!.Value);
            lines.Add($"- recovery: every held step completed again {Seconds(last - hungAt)} after the hang began " +
                      $"({Seconds(last - resumedAt)} after the proxy resumed).");
        }
        else
        {
            lines.Add($"- recovery: {_held.Count(h => h.StepCompleted is null)} held step(s) never completed while the soak watched.");
        }

        return lines;
    }

    private IEnumerable<string> ServerLines()
    {
        var hung = _sessions.Where(x => x.ClientPort is { } port && _hungPorts.Contains(port)).ToList();
        var hungPids = hung.Select(x => x.Pid).ToHashSet();
        var inTransaction = hung.Where(x => x.TransactionSeconds is not null).ToList();
        if (_snapshotProblem is not null)
        {
            yield return $"- the server's sessions could not be read before the resume: {_snapshotProblem}";
            yield break;
        }

        var blocked = _sessions.Where(x => x.BlockerPids.Any(hungPids.Contains)).ToList();
        var waiting = _sessions.Count(x => x.WaitEventType == "Lock");
        yield return $"- just before the resume the server had {hung.Count} session(s) of the hung worker, {inTransaction.Count} inside a transaction" +
                     (inTransaction.Count == 0 ? "" : $" (open up to {inTransaction.Max(x => x.TransactionSeconds):0} s; last statements: " +
                         string.Join(" | ", inTransaction.Select(x => $"{x.State}: {x.Query}").Distinct().Take(3)) + ")") + ".";
        yield return $"- sessions waiting on a lock then: {waiting}; blocked directly by the hung worker's sessions: {blocked.Count}" +
                     (blocked.Count == 0 ? "" : $" (waiting up to {blocked.Max(x => x.QuerySeconds):0} s: " +
                         string.Join(" | ", blocked.Select(x => x.Query).Distinct().Take(3)) + ")") + ".";
        yield return "- Hangfire then: distributed locks held " +
                     (_hangfireLocks.Count == 0 ? "none" : string.Join(", ", _hangfireLocks.Select(l => $"{l.Resource} for {l.Seconds:0} s"))) +
                     "; job queues " + string.Join(", ", _queues.Select(q => $"{q.Queue} {q.Waiting} waiting / {q.Fetched} fetched")) + ".";
    }

    private static string Seconds(TimeSpan value) => $"{value.TotalSeconds:0.0} s";

    private sealed class Held(long executionId, long workflowId, string step)
    {
        public long ExecutionId => executionId;

        public long WorkflowId => workflowId;

        public string Step => step;

        public TimeSpan? AttemptClosed { get; set; }

        public TimeSpan? StepCompleted { get; set; }
    }
}
