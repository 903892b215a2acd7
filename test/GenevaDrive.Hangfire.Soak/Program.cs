using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using GenevaDrive;
using GenevaDrive.Soak;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

// The chaos soak. Without arguments: the coordinator (needs GENEVADRIVE_TEST_POSTGRES, and GENEVADRIVE_SOAK_PG_BIN
// plus GENEVADRIVE_SOAK_PG_DATA to restart the database; build.ps1 soak sets all three).
// With "worker <connection> <run id>": one worker process.
if (args.Length == 3 && args[0] == "worker")
{
    return await Worker.RunAsync(args[1], args[2]);
}

return await Coordinator.RunAsync();

/// <summary>The settings both sides share.</summary>
internal static class Soak
{
    public const int Workflows = 120;
    public const int WorkerProcesses = 3;
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(20);
    public static readonly TimeSpan ChaosPhase = TimeSpan.FromSeconds(150);
    public static readonly TimeSpan DrainLimit = TimeSpan.FromMinutes(4);

    public static void Configure(IGlobalConfiguration configuration, string connection, string runId)
    {
        // Hangfire.PostgreSql keeps its default timeouts (30-minute invisibility, 10-minute lock timeout); only
        // the poll interval is shortened so the soak fits in minutes.
        var storageOptions = new PostgreSqlStorageOptions { SchemaName = "hf_" + runId, QueuePollInterval = TimeSpan.FromSeconds(1) };
        configuration.UseStorage(new PostgreSqlStorage(new NpgsqlConnectionFactory(connection, storageOptions), storageOptions));
        configuration.UseGenevaDrive(
            o =>
            {
                o.UsePostgreSql(connection, s => s.SchemaName = "gd_" + runId);
                o.LeaseTimeout = Lease;
                // The default threshold equals the default lease (5 min); the soak's lease is shorter, and so is this.
                o.StuckScheduledThreshold = TimeSpan.FromMinutes(1);
                o.AddWorkflow<SoakWorkflow>();
                o.AddHero<SoakHero>(h => h.Id, (_, id, _) => Task.FromResult<SoakHero?>(new SoakHero(id)));
            },
            services => services.AddSingleton(new SoakLedger(connection, "soak_" + runId)));
    }
}

internal static class Worker
{
    public static async Task<int> RunAsync(string connection, string runId)
    {
        Soak.Configure(GlobalConfiguration.Configuration, connection, runId);
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 4, ServerName = $"soak-{Environment.ProcessId}" });
        Console.WriteLine("ready");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}

internal static class Coordinator
{
    private static readonly List<(TimeSpan At, string What, int Pid)> Faults = [];
    private static readonly Stopwatch Clock = new();
    private static readonly string ArtifactsFolder =
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "artifacts", "soak"));

    private static string LogFolder = ArtifactsFolder;

    public static async Task<int> RunAsync()
    {
        var connection = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES")
            ?? throw new InvalidOperationException("Set GENEVADRIVE_TEST_POSTGRES (build.ps1 soak starts a throwaway PostgreSQL and sets it).");
        var pgBin = Environment.GetEnvironmentVariable("GENEVADRIVE_SOAK_PG_BIN");
        var pgData = Environment.GetEnvironmentVariable("GENEVADRIVE_SOAK_PG_DATA");
        var runId = DateTime.UtcNow.ToString("MMddHHmmss", CultureInfo.InvariantCulture);
        var random = new Random(20261129);
        var ledger = new SoakLedger(connection, "soak_" + runId);
        await ledger.WriteAsync(c => c.ExecuteAsync(ledger.Install));

        Soak.Configure(GlobalConfiguration.Configuration, connection, runId);
        // The workflows exist (and so does the schema) before any worker starts: the workers begin with a backlog.
        var ids = new List<long>();
        for (var i = 0; i < Soak.Workflows; i++)
        {
            ids.Add((await Workflows.Client.StartAsync<SoakWorkflow>(new SoakHero($"hero-{i}"))).Id);
        }

        LogFolder = Path.Combine(ArtifactsFolder, "workers-" + runId);
        Directory.CreateDirectory(LogFolder);
        var workers = Enumerable.Range(0, Soak.WorkerProcesses).Select(_ => StartWorker(connection, runId)).ToList();
        var frozen = new HashSet<int>();
        Clock.Start();

        Console.WriteLine($"started {ids.Count} workflows × 4 steps on {workers.Count} worker processes (lease {Soak.Lease.TotalSeconds:0} s)");

        // Chaos: a fault every 8–15 s; the database restarts once, halfway.
        var restarted = false;
        while (Clock.Elapsed < Soak.ChaosPhase)
        {
            await Task.Delay(TimeSpan.FromSeconds(8 + random.Next(8)));
            // Faults hit running workers only: a frozen one is thawed by its own timer.
            var running = Enumerable.Range(0, workers.Count).Where(i => { lock (frozen) { return !frozen.Contains(workers[i].Id); } }).ToList();
            if (running.Count == 0)
            {
                continue;
            }

            var victim = running[random.Next(running.Count)];
            if (!restarted && Clock.Elapsed > Soak.ChaosPhase / 2 && pgBin is not null && pgData is not null)
            {
                restarted = true;
                Record("restart PostgreSQL (immediate)", 0);
                // -l: the restarted server writes to its log file, not to our output (it would hold the pipe open after we exit).
                RunAsPostgres(Path.Combine(pgBin, "pg_ctl"), "-D", pgData, "-m", "immediate", "-w", "-l", Path.Combine(pgData, "server.log"), "restart");
            }
            else if (random.Next(2) == 0)
            {
                Record("kill -9", workers[victim].Id);
                workers[victim].Kill();
                workers[victim] = StartWorker(connection, runId);
            }
            else
            {
                var worker = workers[victim];
                Record("kill -STOP", worker.Id);
                lock (frozen)
                {
                    frozen.Add(worker.Id);
                }

                Signal("STOP", worker.Id);
                // Longer than the lease: the step may be taken over while the process sleeps.
                var frozenFor = Soak.Lease + TimeSpan.FromSeconds(5 + random.Next(40));
                _ = Task.Delay(frozenFor).ContinueWith(_ =>
                {
                    Record($"kill -CONT (frozen {frozenFor.TotalSeconds:0} s)", worker.Id);
                    Signal("CONT", worker.Id);
                    lock (frozen)
                    {
                        frozen.Remove(worker.Id);
                    }
                }, TaskScheduler.Default);
            }
        }

        // Faults stop; every frozen worker is thawed by its own timer (at most a lease and 20 s later).
        var faultsStopped = Clock.Elapsed;
        Record("faults stop", 0);
        var drained = TimeSpan.Zero;
        var finished = 0;
        while (Clock.Elapsed - faultsStopped < Soak.DrainLimit)
        {
            finished = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
                $"SELECT COUNT(*) FROM \"gd_{runId}\".\"Workflows\" WHERE \"State\" = 'finished';"));
            if (finished == ids.Count)
            {
                drained = Clock.Elapsed - faultsStopped;
                break;
            }

            await Task.Delay(1000);
        }

        var report = await ReportAsync(ledger, runId, ids.Count, finished, drained, faultsStopped);
        foreach (var worker in workers)
        {
            Signal("CONT", worker.Id);
            worker.Kill();
        }

        Console.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(ArtifactsFolder, "soak-report.md"), report);
        return finished == ids.Count ? 0 : 1;
    }

    private static async Task<string> ReportAsync(SoakLedger ledger, string runId, int total, int finished, TimeSpan drained, TimeSpan faultsStopped)
    {
        var s = ledger.Schema;
        var overlaps = await ledger.WriteAsync(c => c.QueryAsync<(long W, string Step, long A, long B)>(
            $"SELECT a.workflow_id, a.step, a.token, b.token FROM \"{s}\".runs a JOIN \"{s}\".runs b ON a.workflow_id = b.workflow_id AND a.step = b.step AND a.id < b.id " +
            "WHERE a.outcome = 'completed' AND b.outcome = 'completed' AND a.started < b.ended AND b.started < a.ended;"));
        var duplicates = await ledger.WriteAsync(c => c.QueryAsync<(long W, string Step, int Runs, string Pids)>(
            $"SELECT workflow_id, step, COUNT(*)::int, string_agg(pid::text, ',' ORDER BY id) FROM \"{s}\".runs WHERE started IS NOT NULL " +
            "GROUP BY workflow_id, step HAVING COUNT(*) > 1;"));
        var acceptedTwice = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM (SELECT 1 FROM \"{s}\".effects GROUP BY workflow_id, step HAVING COUNT(*) > 1) x;"));
        var refused = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>($"SELECT COUNT(*) FROM \"{s}\".refused;"));
        var failedJobs = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM \"hf_{runId}\".job WHERE statename = 'Failed';"));
        var interrupted = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"Outcome\" = 'interrupted';"));
        var recovered = await ledger.WriteAsync(c => c.ExecuteScalarAsync<int>(
            $"SELECT COUNT(*) FROM \"gd_{runId}\".\"StepExecutions\" WHERE \"Outcome\" = 'recovered';"));
        var killedPids = Faults.Where(f => f.What == "kill -9").Select(f => f.Pid).ToHashSet();
        var frozenPids = Faults.Where(f => f.What == "kill -STOP").Select(f => f.Pid).ToHashSet();
        // Each step that ran more than once is put down to the first fault that explains it: an earlier run's
        // process was killed, or else frozen; anything left is unexplained (and should be zero).
        bool EarlierRunIn(HashSet<int> pids, (long W, string Step, int Runs, string Pids) d) =>
            d.Pids.Split(',').Take(d.Runs - 1).Any(p => pids.Contains(int.Parse(p, CultureInfo.InvariantCulture)));
        var afterKill = duplicates.Count(d => EarlierRunIn(killedPids, d));
        var afterFreeze = duplicates.Count(d => !EarlierRunIn(killedPids, d) && EarlierRunIn(frozenPids, d));
        var unexplained = duplicates.Count() - afterKill - afterFreeze;

        var text = new StringBuilder();
        text.AppendLine("# GenevaDrive soak report");
        text.AppendLine();
        text.AppendLine($"{Soak.WorkerProcesses} worker processes × 4 Hangfire workers, Hangfire.PostgreSql default timeouts, lease {Soak.Lease.TotalSeconds:0} s, {Soak.ChaosPhase.TotalSeconds:0} s of faults.");
        text.AppendLine();
        text.AppendLine("| fault | count |");
        text.AppendLine("|---|---|");
        foreach (var group in Faults.Where(f => f.What is "kill -9" or "kill -STOP" || f.What.StartsWith("restart", StringComparison.Ordinal)).GroupBy(f => f.What))
        {
            text.AppendLine($"| {group.Key} | {group.Count()} |");
        }

        text.AppendLine();
        text.AppendLine("| measure | value |");
        text.AppendLine("|---|---|");
        text.AppendLine($"| workflows finished / stuck | {finished} / {total - finished} |");
        text.AppendLine($"| time to drain after the faults stopped | {(finished == total ? $"{drained.TotalSeconds:0} s" : $"not drained in {Soak.DrainLimit.TotalMinutes:0} min")} |");
        text.AppendLine($"| overlapping completed runs of one step | {overlaps.Count()} |");
        text.AppendLine($"| steps whose body started more than once | {duplicates.Count()}: after a kill -9 of the earlier run's process {afterKill}, after a freeze of it {afterFreeze}, unexplained {unexplained} |");
        text.AppendLine($"| side effects accepted twice for one step | {acceptedTwice} |");
        text.AppendLine($"| stale side effects refused by the fencing token | {refused} |");
        text.AppendLine($"| attempts interrupted (fenced) / recovered after a lost lease | {interrupted} / {recovered} |");
        text.AppendLine($"| Failed Hangfire jobs | {failedJobs} |");
        text.AppendLine();
        text.AppendLine("Fault log:");
        foreach (var (at, what, pid) in Faults)
        {
            text.AppendLine($"- {at.TotalSeconds,5:0.0} s  {what}{(pid == 0 ? "" : $" (pid {pid})")}");
        }

        return text.ToString();
    }

    private static void Record(string what, int pid)
    {
        lock (Faults)
        {
            Faults.Add((Clock.Elapsed, what, pid));
        }

        Console.WriteLine($"{Clock.Elapsed.TotalSeconds,6:0.0} s  {what}{(pid == 0 ? "" : $" (pid {pid})")}");
    }

    private static Process StartWorker(string connection, string runId)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(Coordinator).Assembly.Location);
        info.ArgumentList.Add("worker");
        info.ArgumentList.Add(connection);
        info.ArgumentList.Add(runId);
        var process = Process.Start(info)!;
        var log = new StreamWriter(Path.Combine(LogFolder, $"worker-{process.Id}.log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", $"-{signal} {pid}");
        kill.WaitForExit();
    }

    private static void RunAsPostgres(string exe, params string[] arguments)
    {
        var asRoot = Environment.UserName == "root";
        var info = new ProcessStartInfo(asRoot ? "runuser" : exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (asRoot)
        {
            foreach (var a in new[] { "-u", "postgres", "--", exe })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        Console.WriteLine($"         pg_ctl: {output.Result.Trim()} {errors.Result.Trim()}".TrimEnd());
    }
}
