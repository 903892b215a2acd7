using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GenevaDrive.Benchmarks;
using Hangfire;

// The benchmark: GenevaDrive steps side by side with plain Hangfire jobs, on PostgreSQL (GENEVADRIVE_TEST_POSTGRES,
// which build.ps1 bench points at a throwaway cluster with fsync on) and SQLite, alternating the order of the two
// variants over the repetitions. Prints medians [min–max] and the ratios; writes artifacts/bench/bench-report.{md,json}.
if (args.Length > 0 && args[0] == "upgrade")
{
    // The upgrade benchmark: "upgrade [all|postgresql|sqlite] [workflows]" (default all, 1,000,000 workflows).
    var upgradePostgres = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES");
    var only = args.Length > 1 ? args[1] : "all";
    var count = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000_000;
    var text = new StringBuilder("# GenevaDrive upgrade benchmark — " + DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "\n\n");
    foreach (var database in new[] { "postgresql", "sqlite" }.Where(d => only == "all" || only == d))
    {
        if (database == "postgresql" && upgradePostgres is null)
        {
            Console.WriteLine("GENEVADRIVE_TEST_POSTGRES is not set: the upgrade benchmark measures SQLite only.");
            continue;
        }

        var section = await Upgrade.RunAsync(database, upgradePostgres, count);
        Console.WriteLine(section);
        text.Append(section);
    }

    var upgradeFolder = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "artifacts", "bench");
    Directory.CreateDirectory(upgradeFolder);
    await File.WriteAllTextAsync(Path.Combine(upgradeFolder, "upgrade-report.md"), text.ToString());
    return 0;
}

if (args.Length > 0 && args[0] == "children")
{
    // The child workflows benchmark: "children [count] [all|postgresql|sqlite]" (default 10,000 children of one parent, every database).
    return await ChildrenBench.RunAsync(args);
}

if (args.Length == 4 && args[0] == "scaleout-worker")
{
    // One worker process of the scale-out benchmark: "scaleout-worker <connection> <run> <hangfire|genevadrive>".
    return await ScaleOutWorker.RunAsync(args[1], args[2], args[3]);
}

if (args.Length > 0 && args[0] == "scaleout")
{
    // The scale-out benchmark: "scaleout [workflows] [maxProcesses]" (default 400 workflows, 1–3 worker processes), PostgreSQL only.
    var scaleOutPostgres = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES")
        ?? throw new InvalidOperationException("The scale-out benchmark needs GENEVADRIVE_TEST_POSTGRES (build.ps1 bench sets it).");
    var scaleOutWorkflows = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 400;
    var scaleOutProcesses = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
    var scaleOutReport = await ScaleOut.RunAsync(scaleOutPostgres, scaleOutWorkflows, scaleOutProcesses);
    Console.WriteLine();
    Console.WriteLine(scaleOutReport);
    var scaleOutFolder = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "artifacts", "bench");
    Directory.CreateDirectory(scaleOutFolder);
    await File.WriteAllTextAsync(Path.Combine(scaleOutFolder, "scaleout-report.md"), scaleOutReport);
    Console.WriteLine($"Written to {Path.GetFullPath(scaleOutFolder)}.");
    return 0;
}

if (args.Length > 0 && args[0] == "profile")
{
    // Where the step path allocates: the GenevaDrive throughput workload under a sampling allocation profile.
    var profiled = args.Length > 1 ? args[1] : "sqlite";
    var pgProfile = profiled == "postgresql" ? Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES") : null;
    await Scenarios.ThroughputAsync(profiled, "genevadrive", pgProfile, 0);
    using var profile = new AllocationProfile();
    var measured = await Scenarios.ThroughputAsync(profiled, args.Length > 2 ? args[2] : "genevadrive", pgProfile, 1);
    foreach (var m in measured)
    {
        Console.WriteLine($"{m.Metric}: {m.Value:0.0}");
    }

    foreach (var (type, bytes) in profile.Top(40))
    {
        Console.WriteLine($"{bytes / 1024.0 / (Scenarios.Workflows * Scenarios.StepsPerWorkflow),8:0.0} KB/unit  {type}");
    }

    return 0;
}

var repetitions = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
var postgres = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES");
var databases = postgres is null ? new[] { "sqlite" } : new[] { "postgresql", "sqlite" };
if (args.Length > 1 && args[1] != "all")
{
    // e.g. "3 postgresql": one database only, to re-measure after a change.
    databases = databases.Where(d => d == args[1]).ToArray();
}

// A third argument: "noscale" skips the pre-loaded store, "scaleonly" measures only it.
var scale = args.Length > 2 ? args[2] : "scale";
if (postgres is null)
{
    Console.WriteLine("GENEVADRIVE_TEST_POSTGRES is not set: measuring SQLite only (build.ps1 bench starts a throwaway PostgreSQL).");
}

Commands.Start();
var results = new List<Measurement>();
foreach (var database in scale == "scaleonly" ? [] : databases)
{
    for (var rep = 0; rep < repetitions; rep++)
    {
        // Alternate which variant goes first, so warm-up and drift fall on both.
        var order = rep % 2 == 0 ? new[] { "hangfire", "genevadrive", "chains" } : new[] { "chains", "genevadrive", "hangfire" };
        foreach (var variant in order)
        {
            var pg = database == "postgresql" ? postgres : null;
            results.AddRange(await Scenarios.ThroughputAsync(database, variant, pg, rep));
            if (variant == "chains")
            {
                Console.WriteLine($"{database} rep {rep + 1}/{repetitions} {variant}: done");
                continue;
            }

            results.Add(await Scenarios.StartRateAsync(database, variant, pg, rep));
            results.AddRange(await Scenarios.LinkLatencyAsync(database, variant, pg, rep));
            Console.WriteLine($"{database} rep {rep + 1}/{repetitions} {variant}: done");
        }
    }
}

foreach (var database in scale == "scaleonly" ? [] : databases)
{
    results.Add(await Floor.DurableCommitAsync(database, database == "postgresql" ? postgres : null));
}

if (scale != "noscale")
{
    foreach (var database in databases)
    {
        results.AddRange(await Scale.RunAsync(database, database == "postgresql" ? postgres : null, repetitions));
    }
}

var report = Report.Build(results, repetitions) + Report.BuildFloor(results) + Report.BuildScale(results, repetitions) + Scale.Plans;
Console.WriteLine();
Console.WriteLine(report);
var folder = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "artifacts", "bench"));
Directory.CreateDirectory(folder);
await File.WriteAllTextAsync(Path.Combine(folder, "bench-report.md"), report);
await File.WriteAllTextAsync(Path.Combine(folder, "bench-report.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"Written to {folder}.");
return 0;

/// <summary>One measured value of one variant in one repetition. Higher is better unless the metric says otherwise.</summary>
internal sealed record Measurement(string Database, string Variant, int Repetition, string Metric, double Value, bool LowerIsBetter);

internal static class Scenarios
{
    public const int PlainJobs = 2000;
    public const int Workflows = 500;
    public const int StepsPerWorkflow = 4;
    public const int Starts = 500;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>2,000 plain no-op jobs, or 500 workflows × 4 no-op steps, enqueued first, then drained by one server.</summary>
    public static async Task<IEnumerable<Measurement>> ThroughputAsync(string database, string variant, string? postgres, int rep)
    {
        await using var rig = await Rig.CreateAsync(database, postgres);
        int units;
        if (variant == "hangfire")
        {
            units = PlainJobs;
            for (var i = 0; i < units; i++)
            {
                rig.Jobs.Enqueue<PlainJobs>(j => j.Noop());
            }
        }
        else if (variant == "chains")
        {
            // 500 chains of 4 jobs, each job enqueueing the next with a step job's arguments: the same Hangfire work during the
            // run as the workflows' steps (job creation, argument (de)serialization), without GenevaDrive's rows.
            units = Workflows * StepsPerWorkflow;
            for (var i = 0; i < Workflows; i++)
            {
                var workflowId = (long)i;
                rig.Jobs.Enqueue<PlainJobs>(j => j.Chain(workflowId * 4, "bench_four", workflowId, "step_0"));
            }
        }
        else
        {
            units = Workflows * StepsPerWorkflow;
            for (var i = 0; i < Workflows; i++)
            {
                await rig.Workflows.StartAsync<FourStepWorkflow>(new BenchHero($"hero-{rep}-{i}"));
            }
        }

        GC.Collect();
        var commitsBefore = await Rig.CommitsAsync(postgres);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = Cpu.Read();
        var commandsBefore = Commands.Count;
        var clock = Stopwatch.StartNew();
        rig.StartServer();
        await WaitAsync(() => rig.Probe.Done >= units, $"{units} units of {variant} on {database}");
        var seconds = clock.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var cpu = Cpu.Read() - cpuBefore;
        var commands = Commands.Count - commandsBefore;
        var commitsAfter = await Rig.CommitsAsync(postgres);
        // The chains are compared with the workflows under metrics of their own ("… vs 4-job chains"), recorded on the plain side.
        var suffix = variant == "chains" ? " vs 4-job chains" : string.Empty;
        var side = variant == "chains" ? "hangfire" : variant;
        var list = new List<Measurement>
        {
            new(database, side, rep, "throughput (units/s)" + suffix, units / seconds, false),
            new(database, side, rep, "allocated per unit (KB)" + suffix, allocated / 1024.0 / units, true),
            new(database, side, rep, "CPU per unit, this process (ms)" + suffix, cpu.Process.TotalMilliseconds / units, true),
        };
        if (postgres is not null)
        {
            list.Add(new(database, side, rep, "database round trips per unit (run)" + suffix, commands / (double)units, true));
        }

        if (cpu.Others is { } others && postgres is not null)
        {
            // On this machine the only other busy process during a run is the database server.
            list.Add(new(database, side, rep, "CPU per unit, other processes (ms)" + suffix, others.TotalMilliseconds / units, true));
        }
        if (commitsBefore is { } before && commitsAfter is { } after)
        {
            list.Add(new(database, side, rep, "database commits per unit (run)" + suffix, (after - before) / (double)units, true));
        }

        if (variant == "genevadrive")
        {
            // The same run against the chains.
            list.AddRange(list.ToArray().Select(m => m with { Metric = m.Metric + " vs 4-job chains" }));
        }

        return list;
    }

    /// <summary>500 × BackgroundJob.Enqueue against 500 × StartAsync (no server running).</summary>
    public static async Task<Measurement> StartRateAsync(string database, string variant, string? postgres, int rep)
    {
        await using var rig = await Rig.CreateAsync(database, postgres);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Starts; i++)
        {
            if (variant == "hangfire")
            {
                rig.Jobs.Enqueue<PlainJobs>(j => j.Noop());
            }
            else
            {
                await rig.Workflows.StartAsync<FourStepWorkflow>(new BenchHero($"start-{rep}-{i}"));
            }
        }

        return new(database, variant, rep, "start rate (starts/s)", Starts / clock.Elapsed.TotalSeconds, false);
    }

    /// <summary>A 200-step zero-wait workflow against a 200-job chain where each job enqueues the next.</summary>
    public static async Task<IEnumerable<Measurement>> LinkLatencyAsync(string database, string variant, string? postgres, int rep)
    {
        await using var rig = await Rig.CreateAsync(database, postgres);
        rig.StartServer();
        if (variant == "hangfire")
        {
            rig.Jobs.Enqueue<PlainJobs>(j => j.Link(0, ChainWorkflow.Links));
        }
        else
        {
            await rig.Workflows.StartAsync<ChainWorkflow>(new BenchHero($"chain-{rep}"));
        }

        await WaitAsync(() => rig.Probe.Done >= 1, $"the {ChainWorkflow.Links}-link chain of {variant} on {database}");
        var times = Enumerable.Range(0, ChainWorkflow.Links).Select(i => rig.Probe.LinkTimes[i]).ToArray();
        var links = times.Zip(times.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds).Order().ToArray();
        return
        [
            new(database, variant, rep, "link latency p50 (ms)", links[links.Length / 2], true),
            new(database, variant, rep, "link latency p95 (ms)", links[(int)(links.Length * 0.95)], true),
            new(database, variant, rep, "link latency max (ms)", links[^1], true),
        ];
    }

    public static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > Limit)
            {
                throw new TimeoutException($"Timed out after {Limit.TotalMinutes} min waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>CPU time used by this process, and by every other process on the machine (Linux's /proc/stat), so far.</summary>
internal readonly record struct Cpu(TimeSpan Process, TimeSpan? Others)
{
    public static Cpu Read()
    {
        var process = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan? machine = null;
        if (File.Exists("/proc/stat"))
        {
            // "cpu  user nice system idle iowait irq softirq steal …" in clock ticks (USER_HZ, 100 per second).
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var busy = new[] { 1, 2, 3, 6, 7, 8 }.Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
            machine = TimeSpan.FromMilliseconds(busy * 10.0);
        }

        return new Cpu(process, machine - process);
    }

    public static Cpu operator -(Cpu after, Cpu before) => new(after.Process - before.Process, after.Others - before.Others);
}

internal static class Report
{
    public static string Build(IReadOnlyList<Measurement> results, int repetitions)
    {
        var text = new StringBuilder();
        text.AppendLine($"# GenevaDrive benchmark — {DateTime.UtcNow:yyyy-MM-dd}");
        text.AppendLine();
        text.AppendLine($"{Environment.ProcessorCount} cores, .NET {Environment.Version}, {Rig.Workers} workers, {Rig.Poll.TotalMilliseconds:0} ms queue poll, " +
                        $"{repetitions} repetitions alternating the order; medians [min–max]. Ratio = GenevaDrive ÷ plain Hangfire " +
                        "(for 'lower is better' metrics the ratio is inverted to plain ÷ GenevaDrive, so above 1 is always better).");
        foreach (var database in results.Where(r => r.Variant is "hangfire" or "genevadrive").Select(r => r.Database).Distinct())
        {
            text.AppendLine();
            text.AppendLine($"## {database}");
            text.AppendLine();
            text.AppendLine("| metric | plain Hangfire | GenevaDrive | ratio |");
            text.AppendLine("|---|---|---|---|");
            foreach (var metric in results.Where(r => r.Database == database && r.Variant is "hangfire" or "genevadrive").Select(r => r.Metric).Distinct())
            {
                var plain = Values(results, database, "hangfire", metric);
                var steps = Values(results, database, "genevadrive", metric);
                var lower = results.First(r => r.Metric == metric).LowerIsBetter;
                var ratio = lower ? Median(plain) / Median(steps) : Median(steps) / Median(plain);
                text.AppendLine($"| {metric} | {Describe(plain)} | {Describe(steps)} | {ratio:0.00} |");
            }
        }

        return text.ToString();
    }

    /// <summary>What one durable commit costs on each database: the unit of what GenevaDrive adds per step and per start.</summary>
    public static string BuildFloor(IReadOnlyList<Measurement> results)
    {
        var floor = results.Where(r => r.Variant == "floor").ToList();
        if (floor.Count == 0)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("## One durable commit");
        text.AppendLine();
        text.AppendLine("A single-row UPDATE committed on its own, 300 times in a row (median): the price of each synchronous commit GenevaDrive adds " +
                        "(per step: the claim and the finalize; per start: the workflow with its first execution).");
        text.AppendLine();
        text.AppendLine("| database | one durable commit (ms) |");
        text.AppendLine("|---|---|");
        foreach (var m in floor)
        {
            text.AppendLine($"| {m.Database} | {m.Value:0.00} |");
        }

        return text.ToString();
    }

    /// <summary>The pre-loaded store against the empty one, GenevaDrive only; ratio above 1 is better, as in the main table.</summary>
    public static string BuildScale(IReadOnlyList<Measurement> results, int repetitions)
    {
        var text = new StringBuilder();
        foreach (var database in results.Where(r => r.Variant is "loaded").Select(r => r.Database).Distinct())
        {
            text.AppendLine();
            text.AppendLine($"## {database}: empty store vs {Scale.Preloaded:N0} ended workflows and {Scale.Preloaded * 4L:N0} step executions pre-loaded");
            text.AppendLine();
            text.AppendLine($"GenevaDrive only, {repetitions} repetitions alternating the order; ratio = loaded ÷ empty (inverted for 'lower is better'). " +
                            "Dashboard pages are timed over HTTP, median and max of 15 requests after 2 warm-up requests.");
            text.AppendLine();
            text.AppendLine("| metric | empty | loaded | ratio |");
            text.AppendLine("|---|---|---|---|");
            foreach (var metric in results.Where(r => r.Database == database && r.Variant == "loaded").Select(r => r.Metric).Distinct())
            {
                var empty = Values(results, database, "empty", metric);
                var loaded = Values(results, database, "loaded", metric);
                var lower = results.First(r => r.Metric == metric).LowerIsBetter;
                var ratio = lower ? Median(empty) / Median(loaded) : Median(loaded) / Median(empty);
                text.AppendLine($"| {metric} | {Describe(empty)} | {Describe(loaded)} | {ratio:0.00} |");
            }
        }

        return text.AppendLine().ToString();
    }

    private static double[] Values(IEnumerable<Measurement> results, string database, string variant, string metric) =>
        results.Where(r => r.Database == database && r.Variant == variant && r.Metric == metric).Select(r => r.Value).Order().ToArray();

    private static double Median(double[] values) => values.Length == 0 ? double.NaN : values[values.Length / 2];

    private static string Describe(double[] values) =>
        values.Length == 0 ? "–" : $"{Median(values):0.0} [{values[0]:0.0}–{values[^1]:0.0}]";
}
