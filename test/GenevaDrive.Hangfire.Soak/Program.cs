using System.Diagnostics;
using System.Globalization;
using System.Net;
using Dapper;
using GenevaDrive;
using GenevaDrive.Soak;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

// The chaos soak. Without arguments: the coordinator (needs GENEVADRIVE_TEST_POSTGRES, and GENEVADRIVE_SOAK_PG_BIN
// plus GENEVADRIVE_SOAK_PG_DATA to restart the database; build.ps1 soak sets all three). Two of its faults can be
// turned off: GENEVADRIVE_SOAK_CLOCK_SKEW=off (skewed worker clocks) and GENEVADRIVE_SOAK_HUNG_CONNECTION=off.
// With "worker <connection> <run id> <clock offset in ms>": one worker process.
if (args.Length == 4 && args[0] == "worker")
{
    return await Worker.RunAsync(args[1], args[2], TimeSpan.FromMilliseconds(long.Parse(args[3], CultureInfo.InvariantCulture)));
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

    /// <summary>How far a skewed worker's application clock is off: half a lease, ahead on one worker and behind on another.</summary>
    public static readonly TimeSpan ClockSkew = Lease / 2;

    /// <summary>When the proxied worker's path to the database hangs (the first chaos round after this).</summary>
    public static readonly TimeSpan HangAfter = TimeSpan.FromSeconds(10);

    /// <summary>How long it hangs: three leases, so the held leases expire well before the path comes back.</summary>
    public static readonly TimeSpan HangFor = Lease * 3;

    public static void Configure(IGlobalConfiguration configuration, string connection, string runId, TimeProvider clock,
        ILoggerFactory? logs = null)
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
                // GenevaDrive reads its clock from the options (a skewed worker passes a SkewedTimeProvider).
                o.TimeProvider = clock;
                // The default threshold equals the default lease (5 min); the soak's lease is shorter, and so is this.
                o.StuckScheduledThreshold = TimeSpan.FromMinutes(1);
                o.AddWorkflow<SoakWorkflow>();
                o.AddHero<SoakHero>(h => h.Id, (_, id, _) => Task.FromResult<SoakHero?>(new SoakHero(id)));
            },
            services =>
            {
                services.AddSingleton(new SoakLedger(connection, "soak_" + runId));
                if (logs is not null)
                {
                    services.AddSingleton(logs);
                }
            });
    }
}

internal static class Worker
{
    public static async Task<int> RunAsync(string connection, string runId, TimeSpan clockOffset)
    {
        Soak.Configure(GlobalConfiguration.Configuration, connection, runId,
            clockOffset == TimeSpan.Zero ? TimeProvider.System : new SkewedTimeProvider(clockOffset), new StdoutLoggerFactory());
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 4, ServerName = $"soak-{Environment.ProcessId}" });
        Console.WriteLine($"ready (application clock {Coordinator.Signed(clockOffset)})");
        // The coordinator holds our standard input open: it closes when the coordinator exits, even when it crashes.
        await Console.In.ReadToEndAsync();
        return 0;
    }
}

/// <summary>One worker position: its application clock and its path to the database, kept by every process that fills it.</summary>
internal sealed record WorkerSlot(int Index, TimeSpan ClockOffset, bool Proxied)
{
    public override string ToString() =>
        $"slot {Index} (application clock {(ClockOffset == TimeSpan.Zero ? "unskewed" : Coordinator.Signed(ClockOffset))}{(Proxied ? ", database through the hanging proxy" : "")})";
}

internal static partial class Coordinator
{
    private static readonly List<(TimeSpan At, string What, int Pid)> Faults = [];
    private static readonly List<Disruption> Disruptions = [];
    private static readonly Dictionary<int, WorkerSlot> SlotOf = [];
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
        var skewOn = FaultEnabled("GENEVADRIVE_SOAK_CLOCK_SKEW");
        var hangOn = FaultEnabled("GENEVADRIVE_SOAK_HUNG_CONNECTION");
        var runId = DateTime.UtcNow.ToString("MMddHHmmss", CultureInfo.InvariantCulture);
        var random = new Random(20261129);
        var ledger = new SoakLedger(connection, "soak_" + runId);
        await ledger.WriteAsync(c => c.ExecuteAsync(ledger.Install));

        Soak.Configure(GlobalConfiguration.Configuration, connection, runId, TimeProvider.System);
        // The workflows exist (and so does the schema) before any worker starts: the workers begin with a backlog.
        var ids = new List<long>();
        for (var i = 0; i < Soak.Workflows; i++)
        {
            ids.Add((await Workflows.Client.StartAsync<SoakWorkflow>(new SoakHero($"hero-{i}"))).Id);
        }

        var leases = new LeaseWatch(ledger, "gd_" + runId);
        await leases.InstallAsync();
        var slots = PlanSlots(skewOn, hangOn);
        await using var proxy = hangOn ? new HangingProxy(await DatabaseEndpointAsync(connection)) : null;
        proxy?.Start();
        var proxiedConnection = proxy is null
            ? connection
            : new NpgsqlConnectionStringBuilder(connection) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        var hang = proxy is null ? null : new HungConnection(proxy, ledger, runId, Soak.HangAfter, Soak.HangFor);
        string ConnectionOf(WorkerSlot slot) => slot.Proxied ? proxiedConnection : connection;

        LogFolder = Path.Combine(ArtifactsFolder, "workers-" + runId);
        Directory.CreateDirectory(LogFolder);
        var workers = slots.Select(slot => StartWorker(ConnectionOf(slot), runId, slot)).ToList();
        var frozen = new HashSet<int>();
        bool IsFrozen(int pid)
        {
            lock (frozen)
            {
                return frozen.Contains(pid);
            }
        }

        // Ledger timestamps (the database's now()) are placed on the coordinator's clock from here.
        var dbOrigin = await ledger.WriteAsync(c => c.ExecuteScalarAsync<DateTime>("SELECT now();"));
        Clock.Start();

        Console.WriteLine($"started {ids.Count} workflows × 4 steps on {workers.Count} worker processes (lease {Soak.Lease.TotalSeconds:0} s)");
        foreach (var slot in slots)
        {
            Console.WriteLine($"  worker {slot}: pid {workers[slot.Index].Id}");
        }

        // Chaos: a fault every 8–15 s; the proxied worker's database path hangs once, early; the database restarts once, halfway.
        using var stopWatching = new CancellationTokenSource();
        var watchRecovery = Task.CompletedTask;
        var resumeHungPath = Task.CompletedTask;
        var restarted = false;
        while (Clock.Elapsed < Soak.ChaosPhase)
        {
            await Task.Delay(TimeSpan.FromSeconds(8 + random.Next(8)));
            if (hang is not null && slots.FirstOrDefault(s => s.Proxied) is { } proxiedSlot && hang.IsDue(Clock.Elapsed) &&
                !IsFrozen(workers[proxiedSlot.Index].Id))
            {
                var hung = Begin(Hang, workers[proxiedSlot.Index].Id);
                await hang.HangAsync(hung.Pid, hung.From);
                Record($"hang the database path for {Soak.HangFor.TotalSeconds:0} s ({hang.ConnectionsHeld} open connections held; " +
                       $"it holds {hang.HeldCount} step executions)", hung.Pid, hung.From);
                watchRecovery = hang.WatchRecoveryAsync(() => Clock.Elapsed, stopWatching.Token);
                resumeHungPath = ResumeAfterHangAsync(hang, hung);
                continue;
            }

            // Faults hit running workers only: a frozen one is thawed by its own timer, a hung one by the proxy.
            var running = Enumerable.Range(0, workers.Count)
                .Where(i => !IsFrozen(workers[i].Id) && !(slots[i].Proxied && hang is { IsHung: true })).ToList();
            if (running.Count == 0)
            {
                continue;
            }

            var victim = running[random.Next(running.Count)];
            if (!restarted && Clock.Elapsed > Soak.ChaosPhase / 2 && pgBin is not null && pgData is not null && hang is not { IsHung: true })
            {
                restarted = true;
                var restart = Begin(Restart, 0);
                Record("restart PostgreSQL (immediate)", 0);
                // -l: the restarted server writes to its log file, not to our output (it would hold the pipe open after we exit).
                RunAsPostgres(Path.Combine(pgBin, "pg_ctl"), "-D", pgData, "-m", "immediate", "-w", "-l", Path.Combine(pgData, "server.log"), "restart");
                End(restart);
            }
            else if (random.Next(2) == 0)
            {
                End(Begin(Kill, workers[victim].Id));
                Record("kill -9", workers[victim].Id);
                workers[victim].Kill();
                workers[victim] = StartWorker(ConnectionOf(slots[victim]), runId, slots[victim]);
            }
            else
            {
                var worker = workers[victim];
                var freeze = Begin(Freeze, worker.Id);
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
                    End(freeze);
                    lock (frozen)
                    {
                        frozen.Remove(worker.Id);
                    }
                }, TaskScheduler.Default);
            }
        }

        // Faults stop; every frozen worker is thawed by its own timer (at most a lease and 45 s later), a hung path by the proxy.
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

        // Both end on their own: the resume within HangFor of the hang, the watch when every held step completed.
        await resumeHungPath;
        await stopWatching.CancelAsync();
        await watchRecovery;
        if (hang is not null)
        {
            await hang.PollAsync(Clock.Elapsed);
        }

        var (report, failures) = await ReportAsync(ledger, runId, ids.Count, finished, drained, dbOrigin, slots, hang, leases);
        foreach (var worker in workers)
        {
            Signal("CONT", worker.Id);
            worker.Kill();
        }

        Console.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(ArtifactsFolder, "soak-report.md"), report);
        return failures.Count == 0 ? 0 : 1;
    }

    /// <summary>"+10 s" / "-10 s".</summary>
    public static string Signed(TimeSpan offset) =>
        (offset < TimeSpan.Zero ? "-" : "+") + offset.Duration().TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";

    private static bool FaultEnabled(string variable) =>
        Environment.GetEnvironmentVariable(variable)?.Trim().ToLowerInvariant() is not ("0" or "off" or "false" or "no");

    /// <summary>
    /// Slot 0's application clock runs half a lease ahead and, with three or more workers, slot 1's half a lease
    /// behind (a lease apart from each other); the last slot reaches the database through the hanging proxy.
    /// </summary>
    private static WorkerSlot[] PlanSlots(bool skew, bool hang) =>
        [.. Enumerable.Range(0, Soak.WorkerProcesses).Select(i => new WorkerSlot(i,
            !skew ? TimeSpan.Zero : i == 0 ? Soak.ClockSkew : i == 1 && Soak.WorkerProcesses >= 3 ? -Soak.ClockSkew : TimeSpan.Zero,
            hang && i == Soak.WorkerProcesses - 1))];

    private static async Task<IPEndPoint> DatabaseEndpointAsync(string connection)
    {
        var builder = new NpgsqlConnectionStringBuilder(connection);
        var host = builder.Host ?? "localhost";
        var address = IPAddress.TryParse(host, out var parsed)
            ? parsed
            : (await Dns.GetHostAddressesAsync(host)).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
        return new IPEndPoint(address, builder.Port);
    }

    private static async Task ResumeAfterHangAsync(HungConnection hang, Disruption hung)
    {
        var left = hang.Duration - (Clock.Elapsed - hung.From);
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left);
        }

        try
        {
            await hang.SnapshotServerAsync();
        }
        finally
        {
            hang.Resume(Clock.Elapsed);
        }

        End(hung);
        Record($"the database path resumes ({hang.ConnectionsClosed} stuck connections closed)", hang.Pid);
    }

    private static Disruption Begin(string cause, int pid)
    {
        var disruption = new Disruption(cause, pid, Clock.Elapsed);
        lock (Disruptions)
        {
            Disruptions.Add(disruption);
        }

        return disruption;
    }

    private static void End(Disruption disruption)
    {
        lock (Disruptions)
        {
            disruption.To = Clock.Elapsed;
        }
    }

    private static void Record(string what, int pid, TimeSpan? at = null)
    {
        var when = at ?? Clock.Elapsed;
        lock (Faults)
        {
            Faults.Add((when, what, pid));
        }

        Console.WriteLine($"{when.TotalSeconds,6:0.0} s  {what}{(pid == 0 ? "" : $" (pid {pid})")}");
    }

    private static Process StartWorker(string connection, string runId, WorkerSlot slot)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(Coordinator).Assembly.Location);
        info.ArgumentList.Add("worker");
        info.ArgumentList.Add(connection);
        info.ArgumentList.Add(runId);
        info.ArgumentList.Add(((long)slot.ClockOffset.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        var process = Process.Start(info)!;
        SlotOf[process.Id] = slot;
        var log = new StreamWriter(Path.Combine(LogFolder, $"worker-{process.Id}.log")) { AutoFlush = true };
        log.WriteLine($"worker {slot}");
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
