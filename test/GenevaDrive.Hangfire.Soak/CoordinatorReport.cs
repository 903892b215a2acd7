using System.Globalization;
using System.Text;
using Dapper;
using GenevaDrive.Soak;

/// <summary>When a fault hit which process (0: every worker); a kill is an instant, a freeze or a hang lasts until <see cref="To"/>.</summary>
internal sealed class Disruption(string cause, int pid, TimeSpan from)
{
    public string Cause => cause;

    public int Pid => pid;

    public TimeSpan From => from;

    /// <summary>When it ended; null while it lasts.</summary>
    public TimeSpan? To { get; set; }
}

/// <summary>One run of a step body, from the soak's ledger (its token is its step execution's id).</summary>
internal sealed record RunRow(long Id, long WorkflowId, string Step, int Pid, long Token, DateTime Started, DateTime? Ended, string? Outcome);

/// <summary>A side effect the ledger accepted.</summary>
internal sealed record EffectRow(long WorkflowId, string Step, long Token, int Pid, DateTime At);

/// <summary>A Failed Hangfire job and why.</summary>
internal sealed record FailedJob(long Id, string? Method, string? Arguments, string? ExceptionType, string? ExceptionMessage);

/// <summary>The report: what was injected, what came of it, and which assertions failed.</summary>
internal static partial class Coordinator
{
    private const string Kill = "kill -9";
    private const string Freeze = "freeze";
    private const string Hang = "hung connection";
    private const string Restart = "database restart";
    private const string EarlyTakeover = "early takeover";
    private const string Unexplained = "unexplained";

    /// <summary>GenevaDrive fences a run that has not renewed its lease for this share of it (RunningStep.FenceAfterFraction).</summary>
    private const double FenceAfterFraction = 0.6;

    /// <summary>Ledger times are the database's; a little slack for placing them on the coordinator's clock.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(2);

    private static async Task<(string Text, List<string> Failures)> ReportAsync(SoakLedger ledger, string runId, int total, int finished,
        TimeSpan drained, DateTime dbOrigin, WorkerSlot[] slots, HungConnection? hang, LeaseWatch leases)
    {
        var s = ledger.Schema;
        List<Disruption> disruptions;
        lock (Disruptions)
        {
            disruptions = [.. Disruptions.Select(d => new Disruption(d.Cause, d.Pid, d.From) { To = d.To })];
        }

        TimeSpan OnClock(DateTime databaseTime) => databaseTime - dbOrigin;
        var runs = (await ledger.WriteAsync(c => c.QueryAsync<RunRow>(
            "SELECT id AS Id, workflow_id AS WorkflowId, step AS Step, pid AS Pid, token AS Token, started AS Started, ended AS Ended, outcome AS Outcome " +
            $"FROM \"{s}\".runs ORDER BY workflow_id, step, id;"))).ToList();
        var effects = (await ledger.WriteAsync(c => c.QueryAsync<EffectRow>(
            $"SELECT workflow_id AS WorkflowId, step AS Step, token AS Token, pid AS Pid, at AS At FROM \"{s}\".effects ORDER BY workflow_id, step, at;"))).ToList();
        var refused = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>($"SELECT COUNT(*) FROM \"{s}\".refused;"));
        var failedJobs = (await ledger.WriteAsync(c => c.QueryAsync<FailedJob>(
            "SELECT j.id AS Id, j.invocationdata ->> 'Method' AS Method, j.arguments::text AS Arguments, " +
            "st.data ->> 'ExceptionType' AS ExceptionType, left(st.data ->> 'ExceptionMessage', 300) AS ExceptionMessage " +
            $"FROM \"hf_{runId}\".job j LEFT JOIN \"hf_{runId}\".state st ON st.id = j.stateid WHERE j.statename = 'Failed' ORDER BY j.id;"))).ToList();
        var interrupted = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"Outcome\" = 'interrupted';"));
        var recovered = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"Outcome\" = 'recovered';"));
        var takeovers = (await leases.TakeoversAsync()).ToDictionary(t => t.ExecutionId);
        var hangLines = hang is null ? null : await hang.ReportAsync();

        // A takeover is early when it came before the lease's last renewal plus the lease, both by the database's clock.
        TimeSpan? Early(long executionId) =>
            takeovers.TryGetValue(executionId, out var t) && t.RenewedAt is { } renewed && t.At < renewed + Soak.Lease ? renewed + Soak.Lease - t.At : null;
        var early = takeovers.Values.Where(t => Early(t.ExecutionId) is not null).ToList();
        var runOf = runs.GroupBy(r => r.Token).ToDictionary(g => g.Key, g => g.First());

        var steps = runs.GroupBy(r => (r.WorkflowId, r.Step)).ToList();
        var overlaps = steps.SelectMany(g => g.SelectMany(a => g.Where(b => a.Id < b.Id && a.Outcome == "completed" && b.Outcome == "completed" &&
                                                                           a.Started < b.Ended && b.Started < a.Ended).Select(b => (A: a, B: b))))
            .ToList();
        var reruns = steps.SelectMany(g => g.Zip(g.Skip(1), (earlier, later) => (Earlier: earlier, Later: later)))
            .Select(p => (p.Earlier, p.Later, Cause: Explain(p.Earlier, p.Later, OnClock, disruptions, Early)))
            .ToList();
        var duplicates = steps.Count(g => g.Count() > 1);

        // A side effect accepted twice is a failure unless a fault hit the earlier writer after its effect and before its
        // attempt was closed: its completion was never recorded, and the step ran again (at least once, as documented).
        var twice = effects.GroupBy(e => (e.WorkflowId, e.Step)).Where(g => g.Count() > 1)
            .SelectMany(g => g.Zip(g.Skip(1), (first, second) => (First: first, Second: second)))
            .Select(p => (p.First, p.Second, Cause: ExplainTwice(p.First, p.Second, OnClock, disruptions, takeovers, Early)))
            .ToList();
        var twiceAfterFault = twice.Count(t => t.Cause.StartsWith("completion lost", StringComparison.Ordinal));

        var failures = new List<string>();
        if (finished != total)
        {
            failures.Add($"{total - finished} workflow(s) not finished");
        }

        if (overlaps.Count > 0)
        {
            failures.Add($"{overlaps.Count} overlapping completed run(s) of one step");
        }

        if (twice.Count > twiceAfterFault)
        {
            failures.Add($"{twice.Count - twiceAfterFault} side effect(s) accepted twice with no fault to cost the first its recorded completion");
        }

        if (failedJobs.Count > 0)
        {
            failures.Add($"{failedJobs.Count} Failed Hangfire job(s)");
        }

        string Count(string cause) => reruns.Count(r => r.Cause == cause).ToString(CultureInfo.InvariantCulture);
        var skewed = slots.Where(slot => slot.ClockOffset != TimeSpan.Zero).ToList();
        var text = new StringBuilder();
        text.AppendLine("# GenevaDrive soak report");
        text.AppendLine();
        text.AppendLine($"{Soak.WorkerProcesses} worker processes × 4 Hangfire workers, Hangfire.PostgreSql default timeouts, lease {Soak.Lease.TotalSeconds:0} s, {Soak.ChaosPhase.TotalSeconds:0} s of faults.");
        text.AppendLine();
        text.AppendLine("| fault | count |");
        text.AppendLine("|---|---|");
        text.AppendLine($"| kill -9 | {disruptions.Count(d => d.Cause == Kill)} |");
        text.AppendLine($"| kill -STOP (freeze longer than the lease) | {disruptions.Count(d => d.Cause == Freeze)} |");
        text.AppendLine($"| restart PostgreSQL (immediate) | {disruptions.Count(d => d.Cause == Restart)} |");
        text.AppendLine($"| hung database path ({Soak.HangFor.TotalSeconds:0} s) | {(hang is null ? "off" : disruptions.Count(d => d.Cause == Hang).ToString(CultureInfo.InvariantCulture))} |");
        text.AppendLine($"| skewed application clock (whole run) | {(skewed.Count == 0 ? "off" : string.Join(", ", skewed.Select(slot => $"slot {slot.Index} {Signed(slot.ClockOffset)}")))} |");
        text.AppendLine();
        text.AppendLine("| measure | value |");
        text.AppendLine("|---|---|");
        text.AppendLine($"| workflows finished / stuck | {finished} / {total - finished} |");
        text.AppendLine($"| time to drain after the faults stopped | {(finished == total ? $"{drained.TotalSeconds:0} s" : $"not drained in {Soak.DrainLimit.TotalMinutes:0} min")} |");
        text.AppendLine($"| overlapping completed runs of one step | {overlaps.Count} |");
        text.AppendLine($"| steps whose body started more than once | {duplicates} |");
        text.AppendLine($"| re-runs of a step body, by cause (an early takeover, else the first fault to hit the earlier run's process) | " +
                        $"early takeover {Count(EarlyTakeover)}, kill -9 {Count(Kill)}, freeze {Count(Freeze)}, hung connection {Count(Hang)}, " +
                        $"database restart {Count(Restart)}, unexplained {Count(Unexplained)} |");
        text.AppendLine($"| side effects accepted twice for one step | {twice.Count}: the first writer's completion lost to a fault {twiceAfterFault}, " +
                        $"after an early takeover {twice.Count(t => t.Cause == EarlyTakeover)}, unexplained {twice.Count(t => t.Cause == Unexplained)} |");
        text.AppendLine($"| stale side effects refused by the fencing token | {refused} |");
        text.AppendLine($"| attempts interrupted (fenced) / recovered after a lost lease | {interrupted} / {recovered} |");
        text.AppendLine(leases.Problem is { } problem
            ? $"| takeovers early by the database clock | not measured: {problem} |"
            : $"| takeovers early by the database clock | {early.Count} of {takeovers.Count}" +
              (early.Count == 0 ? "" : $" (up to {early.Max(t => Early(t.ExecutionId)!.Value.TotalSeconds):0.0} s early; " +
                  $"{early.Count(t => Early(t.ExecutionId) > Soak.Lease * (1 - FenceAfterFraction))} before the holder's own fence deadline)") + " |");
        text.AppendLine($"| Failed Hangfire jobs | {failedJobs.Count} |");
        text.AppendLine();
        text.AppendLine(failures.Count == 0 ? "Result: PASS" : $"Result: FAIL ({string.Join("; ", failures)})");
        text.AppendLine();
        text.AppendLine("## Workers");
        foreach (var slot in slots)
        {
            text.AppendLine($"- {slot}: pids {string.Join(", ", PidsOf(slot))}");
        }

        text.AppendLine();
        text.AppendLine("## Clock skew");
        if (skewed.Count == 0)
        {
            text.AppendLine("- off (GENEVADRIVE_SOAK_CLOCK_SKEW).");
        }
        else
        {
            text.AppendLine($"- injected for the whole run: {string.Join("; ", skewed.Select(slot => $"slot {slot.Index} {Signed(slot.ClockOffset)} (pids {string.Join(", ", PidsOf(slot))})"))}. " +
                            "Only the clock GenevaDrive reads (GenevaDriveOptions.TimeProvider) is skewed; Hangfire and PostgreSQL keep the real time.");
            var byHolder = early.GroupBy(t => runOf.TryGetValue(t.ExecutionId, out var run) ? ClockName(run.Pid) : "no body run recorded")
                .Select(g => $"{g.Key} {g.Count()}");
            text.AppendLine($"- outcome: {overlaps.Count(o => IsSkewed(o.A.Pid) || IsSkewed(o.B.Pid))} overlapping completed run(s) with a skewed worker on either side; " +
                            $"{early.Count} takeover(s) of a lease still live by the database clock{(early.Count == 0 ? "" : $" (by the holder's clock: {string.Join(", ", byHolder)})")}; " +
                            $"{twice.Count(t => t.Cause == EarlyTakeover)} side effect(s) accepted twice after one.");
        }

        text.AppendLine();
        text.AppendLine("## Hung connection");
        text.AppendLine(hangLines is null ? "- off (GENEVADRIVE_SOAK_HUNG_CONNECTION)." : string.Join(Environment.NewLine, hangLines));

        Section(text, "Early takeovers (lease still live by the database clock)", early.Take(20).Select(t =>
            $"- step execution {t.ExecutionId}" +
            (runOf.TryGetValue(t.ExecutionId, out var run) ? $" (workflow {run.WorkflowId} step {run.Step}; body {Describe(run, OnClock)})" : "") +
            $": taken over at {OnClock(t.At).TotalSeconds:0.0} s, {Early(t.ExecutionId)!.Value.TotalSeconds:0.0} s before its lease expired"));
        Section(text, "Side effects accepted twice", twice.Take(20).Select(t =>
            $"- workflow {t.First.WorkflowId} step {t.First.Step}: pid {t.First.Pid}{ClockOf(t.First.Pid)} token {t.First.Token} at {OnClock(t.First.At).TotalSeconds:0.0} s, " +
            $"then pid {t.Second.Pid}{ClockOf(t.Second.Pid)} token {t.Second.Token} at {OnClock(t.Second.At).TotalSeconds:0.0} s: {t.Cause}"));
        Section(text, "Overlapping runs", overlaps.Take(20).Select(o =>
            $"- workflow {o.A.WorkflowId} step {o.A.Step}: {Describe(o.A, OnClock)} and {Describe(o.B, OnClock)}; {Explain(o.A, o.B, OnClock, disruptions, Early)}"));
        Section(text, "Failed Hangfire jobs", failedJobs.Take(20).Select(j =>
            $"- job {j.Id} {j.Method} {j.Arguments}: {j.ExceptionType}: {j.ExceptionMessage?.ReplaceLineEndings(" ")}"));

        text.AppendLine();
        text.AppendLine("Fault log:");
        List<(TimeSpan At, string What, int Pid)> faults;
        lock (Faults)
        {
            faults = [.. Faults.OrderBy(f => f.At)];
        }

        foreach (var (at, what, pid) in faults)
        {
            text.AppendLine($"- {at.TotalSeconds,5:0.0} s  {what}{(pid == 0 ? "" : $" (pid {pid})")}");
        }

        return (text.ToString(), failures);
    }

    private static void Section(StringBuilder text, string title, IEnumerable<string> lines)
    {
        var list = lines.ToList();
        if (list.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine($"## {title}");
        foreach (var line in list)
        {
            text.AppendLine(line);
        }
    }

    /// <summary>
    /// Why a step's body started again: its earlier attempt was taken over while its lease was still live, or else
    /// the first fault that hit the earlier run's process (or every worker) between the two starts.
    /// </summary>
    private static string Explain(RunRow earlier, RunRow later, Func<DateTime, TimeSpan> onClock, List<Disruption> disruptions,
        Func<long, TimeSpan?> early)
    {
        if (early(earlier.Token) is not null)
        {
            return EarlyTakeover;
        }

        return FirstFault(earlier.Pid, onClock(earlier.Started) - Slack, onClock(later.Started) + Slack, disruptions) ?? Unexplained;
    }

    /// <summary>
    /// Why a step's side effect was accepted twice: an early takeover of the first writer's attempt, or a fault that hit
    /// the first writer between its effect and the close of its attempt (so its completion was never recorded).
    /// </summary>
    private static string ExplainTwice(EffectRow first, EffectRow second, Func<DateTime, TimeSpan> onClock, List<Disruption> disruptions,
        Dictionary<long, Takeover> takeovers, Func<long, TimeSpan?> early)
    {
        if (early(first.Token) is not null)
        {
            return EarlyTakeover;
        }

        var closed = takeovers.TryGetValue(first.Token, out var takeover) ? takeover.At : second.At;
        return FirstFault(first.Pid, onClock(first.At) - Slack, onClock(closed) + Slack, disruptions) is { } cause
            ? $"completion lost to a {cause} after the first effect (at least once)"
            : Unexplained;
    }

    private static string? FirstFault(int pid, TimeSpan from, TimeSpan to, List<Disruption> disruptions) =>
        disruptions.Where(d => (d.Pid == pid || d.Pid == 0) && d.From <= to && (d.To ?? TimeSpan.MaxValue) >= from)
            .OrderBy(d => d.From).FirstOrDefault()?.Cause;

    private static string Describe(RunRow run, Func<DateTime, TimeSpan> onClock) =>
        $"pid {run.Pid}{ClockOf(run.Pid)} token {run.Token} {onClock(run.Started).TotalSeconds:0.0}–" +
        $"{(run.Ended is { } ended ? $"{onClock(ended).TotalSeconds:0.0} s" : "?")} {run.Outcome ?? "unfinished"}";

    private static string ClockOf(int pid) => IsSkewed(pid) ? $" (clock {Signed(SlotOf[pid].ClockOffset)})" : "";

    private static string ClockName(int pid) => IsSkewed(pid) ? Signed(SlotOf[pid].ClockOffset) : "unskewed";

    private static bool IsSkewed(int pid) => SlotOf.TryGetValue(pid, out var slot) && slot.ClockOffset != TimeSpan.Zero;

    private static IEnumerable<int> PidsOf(WorkerSlot slot) => SlotOf.Where(p => p.Value == slot).Select(p => p.Key).Order();
}
