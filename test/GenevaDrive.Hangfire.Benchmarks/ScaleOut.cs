using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using Hangfire;
using Hangfire.Storage;
using Npgsql;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// The scale-out benchmark: 1 … N worker processes (each one Hangfire server, <see cref="Rig.Workers"/> workers,
/// <see cref="Rig.Poll"/> poll) on ONE PostgreSQL, draining W workflows × 4 no-op steps or W plain 4-job chains, with
/// the lock waits sampled from <c>pg_stat_activity</c> every 10 ms and the database's commits counted.
/// </summary>
internal static class ScaleOut
{
    private const string ParkedQueue = "scaleout_parked";
    private static readonly TimeSpan DoneLimit = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(10);

    /// <summary>One measured run: <paramref name="Processes"/> workers draining <paramref name="Units"/> units of one variant.</summary>
    internal sealed record Run(int Processes, string Variant, int Units, double Seconds, long LockWaits, long Samples, double SampledSeconds,
        double CommitsPerUnit, IReadOnlyDictionary<string, long> LockKinds)
    {
        public double UnitsPerSecond => Units / Seconds;

        /// <summary>Waiting backends summed over all samples, per 1,000 units.</summary>
        public double LockWaitSamplesPer1000 => LockWaits * 1000.0 / Units;

        /// <summary>Backend-milliseconds spent waiting on a lock per unit: each waiting backend in a sample stands for one sample interval.</summary>
        public double LockWaitMsPerUnit => Samples == 0 ? 0 : LockWaits * (SampledSeconds * 1000.0 / Samples) / Units;
    }

    public static async Task<string> RunAsync(string postgres, int workflows, int maxProcesses)
    {
        Console.WriteLine($"scale-out: {workflows} workflows × 4 steps against {workflows} plain 4-job chains, 1–{maxProcesses} worker processes");
        var runs = new List<Run>();
        for (var n = 1; n <= maxProcesses; n++)
        {
            // Alternate which variant goes first, so drift falls on both.
            foreach (var variant in n % 2 == 1 ? new[] { "hangfire", "genevadrive" } : new[] { "genevadrive", "hangfire" })
            {
                var run = await MeasureAsync(postgres, workflows, n, variant);
                runs.Add(run);
                Console.WriteLine($"  {n} process(es), {variant}: {run.UnitsPerSecond:0.0} units/s in {run.Seconds:0.00} s, " +
                                  $"{run.LockWaitMsPerUnit:0.00} lock-wait backend-ms/unit, {run.CommitsPerUnit:0.00} commits/unit");
            }
        }

        return Build(runs, workflows, maxProcesses);
    }

    private static async Task<Run> MeasureAsync(string postgres, int workflows, int processes, string variant)
    {
        var units = workflows * Scenarios.StepsPerWorkflow;
        // A fresh run (Hangfire schema hfb_<run>, GenevaDrive schema gdb_<run>); all work created by this process, then parked
        // in a queue no worker listens on, so the workers' start-up (process, JIT of the host, server announce) is not timed.
        string run;
        await using (var rig = await Rig.CreateAsync("postgresql", postgres))
        {
            run = rig.Schema["gdb_".Length..];
            for (var i = 0; i < workflows; i++)
            {
                if (variant == "hangfire")
                {
                    var workflowId = (long)i;
                    rig.Jobs.Enqueue<PlainJobs>(j => j.Chain(workflowId * 4, "bench_four", workflowId, "step_0"));
                }
                else
                {
                    await rig.Workflows.StartAsync<FourStepWorkflow>(new BenchHero($"scaleout-{processes}-{i}"));
                }
            }

            if (variant == "hangfire")
            {
                // The rig's GenevaDrive registered its maintenance jobs; the plain Hangfire workers run without GenevaDrive.
                using var storageConnection = rig.Storage.GetConnection();
                var recurring = new RecurringJobManager(rig.Storage);
                foreach (var job in storageConnection.GetRecurringJobs())
                {
                    recurring.RemoveIfExists(job.Id);
                }
            }

            await using var connection = new NpgsqlConnection(postgres);
            var parked = await connection.ExecuteAsync($"""UPDATE "hfb_{run}"."jobqueue" SET "queue" = '{ParkedQueue}' WHERE "queue" = 'default';""");
            if (parked != workflows)
            {
                throw new InvalidOperationException($"Expected {workflows} enqueued first jobs to park, found {parked}.");
            }
        }

        // The parent's pooled connections close, so their statistics are flushed before the run's commits are counted.
        NpgsqlConnection.ClearAllPools();
        var monitorString = new NpgsqlConnectionStringBuilder(postgres) { Pooling = false, ApplicationName = "scaleout-monitor" }.ConnectionString;
        var children = new List<ScaleOutChild>();
        long before, own;
        double seconds;
        Sampled sampled;
        try
        {
            for (var i = 0; i < processes; i++)
            {
                children.Add(ScaleOutChild.Start(postgres, run, variant));
            }

            try
            {
                await Task.WhenAll(children.Select(c => c.Ready)).WaitAsync(ReadyLimit);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"{processes} worker processes ({variant}) did not print READY within {ReadyLimit.TotalMinutes} min.");
            }

            await using var monitor = new NpgsqlConnection(monitorString);
            await using var sampler = new NpgsqlConnection(monitorString);
            await monitor.OpenAsync();
            await sampler.OpenAsync();
            // Every statement of these two connections after this point is one commit of ours, subtracted below.
            before = await CommitsAsync(monitor);
            own = 2;
            using var stop = new CancellationTokenSource();
            var sampling = SampleAsync(sampler, stop.Token);
            var progress = variant == "hangfire"
                ? $"""SELECT count(*) FILTER (WHERE "statename" = 'Succeeded'), count(*) FILTER (WHERE "statename" = 'Failed') FROM "hfb_{run}"."job";"""
                : $"""SELECT count(*) FILTER (WHERE "State" = 'finished') * 4, count(*) FILTER (WHERE "State" IN ('paused', 'canceled')) FROM "gdb_{run}"."Workflows";""";
            var clock = Stopwatch.StartNew();
            try
            {
                await monitor.ExecuteAsync($"""UPDATE "hfb_{run}"."jobqueue" SET "queue" = 'default' WHERE "queue" = '{ParkedQueue}';""");
                own++;
                await WaitUntilDoneAsync(monitor, progress, units, children, clock, $"{variant} by {processes} processes (run {run})", () => own++);
                seconds = clock.Elapsed.TotalSeconds;
            }
            finally
            {
                // The sampler stops before its connection is disposed, on failure too (disposing a busy connection hangs).
                await stop.CancelAsync();
                sampled = await sampling;
            }

            own += sampled.Samples;
        }
        finally
        {
            foreach (var child in children)
            {
                child.Dispose();
            }
        }

        // The workers' connections close with them; their backends flush their statistics as they exit.
        await using var counter = new NpgsqlConnection(monitorString);
        await counter.OpenAsync();
        await WaitForOtherBackendsToLeaveAsync(counter);
        var after = await CommitsAsync(counter);
        return new Run(processes, variant, units, seconds, sampled.Waiting, sampled.Samples, sampled.Seconds,
            (after - before - own) / (double)units, sampled.Kinds);
    }

    /// <summary>Polls the database every 100 ms until <paramref name="units"/> are done; fails on failed work, a gone worker or the time limit.</summary>
    private static async Task WaitUntilDoneAsync(NpgsqlConnection monitor, string progress, int units, List<ScaleOutChild> children, Stopwatch clock,
        string what, Action counted)
    {
        while (true)
        {
            var (done, failed) = await monitor.QuerySingleAsync<(long, long)>(progress);
            counted();
            if (done >= units)
            {
                break;
            }

            if (failed > 0)
            {
                throw new InvalidOperationException($"{failed} jobs failed or workflows paused or canceled: {what}.");
            }

            if (children.FirstOrDefault(c => c.HasExited) is { } gone)
            {
                throw new InvalidOperationException(gone.Describe());
            }

            if (clock.Elapsed > DoneLimit)
            {
                throw new TimeoutException($"Timed out after {DoneLimit.TotalMinutes} min: {done} of {units} units done of {what}.");
            }

            await Task.Delay(PollEvery);
        }
    }

    private sealed record Sampled(long Samples, long Waiting, double Seconds, Dictionary<string, long> Kinds);

    /// <summary>Every 10 ms (on its own schedule, not drifting): the backends of this database waiting on a heavyweight lock, by kind.</summary>
    private static async Task<Sampled> SampleAsync(NpgsqlConnection connection, CancellationToken stop)
    {
        const string sql = "SELECT wait_event FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database();";
        var kinds = new Dictionary<string, long>(StringComparer.Ordinal);
        long samples = 0, waiting = 0;
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            foreach (var kind in await connection.QueryAsync<string>(sql))
            {
                waiting++;
                kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            }

            samples++;
            var wait = SampleEvery * samples - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        return new Sampled(samples, waiting, clock.Elapsed.TotalSeconds, kinds);
    }

    private static async Task<long> CommitsAsync(NpgsqlConnection connection)
    {
        // Read the shared statistics afresh, not from this backend's cached snapshot.
        await connection.ExecuteAsync("SELECT pg_stat_clear_snapshot();");
        return await connection.ExecuteScalarAsync<long>("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database();");
    }

    /// <summary>Until no other client backend is connected to this database (at most 10 s): the killed workers' backends are gone.</summary>
    private static async Task WaitForOtherBackendsToLeaveAsync(NpgsqlConnection connection)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(10) && await connection.ExecuteScalarAsync<long>(
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid();") > 0)
        {
            await Task.Delay(50);
        }
    }

    private static string Build(IReadOnlyList<Run> runs, int workflows, int maxProcesses)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# GenevaDrive scale-out benchmark — {DateTime.UtcNow:yyyy-MM-dd}");
        text.AppendLine();
        text.Append(CultureInfo.InvariantCulture,
            $"{Environment.ProcessorCount} cores, .NET {Environment.Version}; one PostgreSQL; 1–{maxProcesses} worker processes, each one Hangfire server ");
        text.Append(CultureInfo.InvariantCulture,
            $"with {Rig.Workers} workers and a {Rig.Poll.TotalMilliseconds:0} ms queue poll on the same storage. Per run {workflows * 4:N0} units: ");
        text.Append(CultureInfo.InvariantCulture,
            $"genevadrive = {workflows:N0} workflows × 4 no-op steps, hangfire = {workflows:N0} plain Hangfire 4-job chains (each job enqueues the next). ");
        text.AppendLine(
            "Each run has fresh Hangfire and GenevaDrive schemas; all work is created by the parent and parked in a queue no worker listens on; the " +
            "workers start and print READY once their server is announced; the clock starts when the parked jobs are moved back to the default " +
            "queue and stops when the database shows all units done (finished workflows × 4, or Succeeded jobs), polled every 100 ms. " +
            "Each worker process's first steps therefore include its JIT warm-up of the job path. One run per cell.");
        text.AppendLine();
        text.AppendLine("Lock waits: backends of the database in `pg_stat_activity` with `wait_event_type = 'Lock'`, sampled every 10 ms on a " +
                        "connection of its own; backend-ms per unit = waiting backends summed over the samples × the mean sample interval ÷ units. " +
                        "Commits: the `pg_stat_database.xact_commit` delta of the run (the workers' polling and heartbeats included, the " +
                        "benchmark's own sampling and polling statements subtracted), per unit.");
        text.AppendLine();
        text.AppendLine("| processes | variant | wall (s) | units/s | GenevaDrive ÷ Hangfire | speed-up vs 1 process | lock-wait samples / 1000 units | lock-wait backend-ms / unit | commits / unit |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var run in runs.OrderBy(r => r.Processes).ThenBy(r => r.Variant == "genevadrive" ? 1 : 0))
        {
            var plain = runs.FirstOrDefault(r => r.Processes == run.Processes && r.Variant == "hangfire");
            var ratio = run.Variant == "genevadrive" && plain is not null ? (run.UnitsPerSecond / plain.UnitsPerSecond).ToString("0.00", CultureInfo.InvariantCulture) : "–";
            var one = runs.FirstOrDefault(r => r.Processes == 1 && r.Variant == run.Variant);
            var speedUp = one is null ? "–" : (run.UnitsPerSecond / one.UnitsPerSecond).ToString("0.00", CultureInfo.InvariantCulture);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {run.Processes} | {run.Variant} | {run.Seconds:0.00} | {run.UnitsPerSecond:0.0} | {ratio} | {speedUp} | {run.LockWaitSamplesPer1000:0.0} | {run.LockWaitMsPerUnit:0.00} | {run.CommitsPerUnit:0.00} |");
        }

        text.AppendLine();
        text.AppendLine("Lock waits by kind (`wait_event`, waiting-backend samples):");
        text.AppendLine();
        foreach (var run in runs.OrderBy(r => r.Processes).ThenBy(r => r.Variant == "genevadrive" ? 1 : 0))
        {
            var kinds = run.LockKinds.Count == 0 ? "none" : string.Join(", ", run.LockKinds.OrderByDescending(k => k.Value).Select(k => $"{k.Key} {k.Value}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"- {run.Processes} process(es), {run.Variant}: {kinds} ({run.Samples:N0} samples in {run.SampledSeconds:0.00} s)");
        }

        return text.ToString();
    }
}
