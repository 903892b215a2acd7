using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using GenevaDrive.Registration;
using Hangfire;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// The child workflows benchmark ("children [count] [all|postgresql|sqlite]"): one parent's StartChildren step starting N
/// one-step children against one plain Hangfire job enqueueing N no-op jobs, on the same storage, worker count and poll, with a
/// real BackgroundJobServer draining the children while they are started; then how long the parent takes to wake after its
/// last child, and the dashboard's parent-page queries at that size.
/// </summary>
internal static class ChildrenBench
{
    private const int WakeRuns = 10;
    private const int WakeChildren = 10;
    private const int WarmUps = 2;
    private const int QueryRequests = 15;
    private static readonly StringBuilder Plans = new();

    public static async Task<int> RunAsync(string[] args)
    {
        var requested = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
        // A whole number of batches: the start's clock stops when the step asks past its last hero (see FanOutProbe.HeroesOf).
        var batch = FanOutParentWorkflow.BatchSize;
        var count = Math.Max(batch, (requested + batch - 1) / batch * batch);
        var postgres = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_POSTGRES");
        var databases = postgres is null ? new[] { "sqlite" } : new[] { "postgresql", "sqlite" };
        if (args.Length > 2 && args[2] != "all")
        {
            databases = databases.Where(d => d == args[2]).ToArray();
        }

        if (postgres is null)
        {
            Console.WriteLine("GENEVADRIVE_TEST_POSTGRES is not set: measuring SQLite only (build.ps1 bench starts a throwaway PostgreSQL).");
        }

        Console.WriteLine($"children: {count:N0} children of one parent against {count:N0} plain jobs enqueued by one job, on {string.Join(" and ", databases)}");
        var results = new List<Measurement>();
        for (var d = 0; d < databases.Length; d++)
        {
            var database = databases[d];
            var pg = database == "postgresql" ? postgres : null;
            // Alternate which variant goes first, so drift falls on both; the small wake runs warm both up first.
            var order = d % 2 == 0 ? new[] { "hangfire", "genevadrive" } : new[] { "genevadrive", "hangfire" };
            foreach (var variant in order)
            {
                results.AddRange(await WakeAsync(database, variant, pg));
                Console.WriteLine($"{database} {variant}: {WakeRuns} wake runs of {WakeChildren} children done");
            }

            foreach (var variant in order)
            {
                results.AddRange(await FanOutAsync(database, variant, pg, count));
            }
        }

        var report = Build(results, count) + Plans;
        Console.WriteLine();
        Console.WriteLine(report);
        var folder = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "artifacts", "bench"));
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "children-report.md"), report);
        Console.WriteLine($"Written to {folder}.");
        return 0;
    }

    /// <summary>Small fan-outs one after another on one server: the spread of the wake latency (the first <see cref="WarmUps"/> are not counted).</summary>
    private static async Task<IEnumerable<Measurement>> WakeAsync(string database, string variant, string? postgres)
    {
        var list = new List<Measurement>();
        await using var rig = await Rig.CreateAsync(database, postgres);
        rig.StartServer();
        for (var i = 0; i < WarmUps + WakeRuns; i++)
        {
            var (run, _) = await RunOneAsync(rig, variant, $"wake{i}", WakeChildren, TimeSpan.FromMinutes(2));
            if (i >= WarmUps)
            {
                list.Add(new(database, variant, i, $"wake latency, {WakeRuns} runs of {WakeChildren} children (ms)",
                    Stopwatch.GetElapsedTime(run.LastChild, run.ParentWoke).TotalMilliseconds, true));
            }
        }

        return list;
    }

    /// <summary>Starts one fan-out of <paramref name="count"/> children on the rig's running server and waits until the parent woke.</summary>
    private static async Task<(FanOutProbe.Run Run, string Key)> RunOneAsync(Rig rig, string variant, string name, int count, TimeSpan limit, Action<FanOutProbe.Run>? progress = null)
    {
        string key;
        if (variant == "hangfire")
        {
            key = $"plain-{name}";
            rig.Jobs.Enqueue<PlainFanOut>(j => j.Start(key, count));
        }
        else
        {
            var hero = $"parent-{name}";
            rig.FanOut.Plan(hero, count);
            key = (await rig.Workflows.StartAsync<FanOutParentWorkflow>(new BenchHero(hero))).Id.ToString(CultureInfo.InvariantCulture);
        }

        var run = rig.FanOut.For(key);
        var clock = Stopwatch.StartNew();
        var reported = TimeSpan.Zero;
        while (run.ParentWoke == 0)
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"Timed out after {limit.TotalMinutes:0} min: {run.ChildrenRan} of {count} children of {variant} ran on {rig.Database}, the parent did not wake.");
            }

            if (progress is not null && clock.Elapsed - reported > TimeSpan.FromSeconds(15))
            {
                reported = clock.Elapsed;
                progress(run);
            }

            await Task.Delay(10);
        }

        if (run.ChildrenRan < count)
        {
            throw new InvalidOperationException($"The parent of {variant} woke after {run.ChildrenRan} of {count} children ran on {rig.Database}.");
        }

        return (run, key);
    }

    /// <summary>One fan-out of <paramref name="count"/> children: the start rate, the whole fan-out and fan-in, the wake, and (GenevaDrive) the reads.</summary>
    private static async Task<IEnumerable<Measurement>> FanOutAsync(string database, string variant, string? postgres, int count)
    {
        await using var rig = await Rig.CreateAsync(database, postgres);
        rig.StartServer();
        var limit = TimeSpan.FromSeconds(Math.Max(300, count / 5.0));
        var (run, key) = await RunOneAsync(rig, variant, "big", count, limit,
            r => Console.WriteLine($"  {database} {variant}: {(r.StartEnded == 0 ? "starting" : "all started")}, {r.ChildrenRan:N0} of {count:N0} children ran"));
        rig.StopServer();
        var start = Stopwatch.GetElapsedTime(run.StartBegan, run.StartEnded).TotalSeconds;
        var whole = Stopwatch.GetElapsedTime(run.StartBegan, run.ParentWoke).TotalSeconds;
        var wake = Stopwatch.GetElapsedTime(run.LastChild, run.ParentWoke).TotalMilliseconds;
        Console.WriteLine($"{database} {variant}: {count:N0} started in {start:0.00} s ({count / start:0} /s), parent woke {whole:0.00} s after its start began, " +
                          $"{wake:0} ms after the last child ran");
        var list = new List<Measurement>
        {
            new(database, variant, 0, $"start rate: {count:N0} started by one step or job (children/s)", count / start, false),
            new(database, variant, 0, $"fan-out and fan-in: {count:N0} started, run and waited for (children/s)", count / whole, false),
            new(database, variant, 0, "wake latency: the last child's body → the parent's next step (ms)", wake, true),
        };
        if (variant == "genevadrive")
        {
            list.AddRange(await GenevaDriveOnlyAsync(rig, run, long.Parse(key, CultureInfo.InvariantCulture), count));
        }

        return list;
    }

    /// <summary>The parent's own read of its children, the wake by the database's clock, and the dashboard's parent-page queries.</summary>
    private static async Task<IEnumerable<Measurement>> GenevaDriveOnlyAsync(Rig rig, FanOutProbe.Run run, long parentId, int count)
    {
        var database = rig.Database;
        var runtime = rig.Services.GetRequiredService<GenevaDriveRuntime>();
        var store = runtime.Store;
        if (run.OutcomesFinished != count)
        {
            throw new InvalidOperationException($"The parent read {run.OutcomesFinished} finished children of {count} on {database}.");
        }

        var list = new List<Measurement>
        {
            new(database, "only", 0, $"the parent's ChildrenAsync: all {count:N0} outcomes read in its step (ms)", run.OutcomesReadMs, true),
        };
        var (childEnded, waitClaimed, nextClaimed) = await DatabaseTimesAsync(rig, parentId);
        list.Add(new(database, "only", 0, "wake, database clock: the last child ended → the wait step claimed (ms)", (waitClaimed - childEnded).TotalMilliseconds, true));
        list.Add(new(database, "only", 0, "wake, database clock: the wait step claimed → the next step claimed (ms)", (nextClaimed - waitClaimed).TotalMilliseconds, true));

        var counted = 0L;
        list.AddRange(await TimeAsync(database, "dashboard parent page: CountChildrenOfParentAsync", async () =>
        {
            var groups = await store.CountChildrenOfParentAsync(parentId);
            counted = groups.Values.Sum(c => c.Total);
        }));
        if (counted != count)
        {
            throw new InvalidOperationException($"CountChildrenOfParentAsync counted {counted} children of {count} on {database}.");
        }

        list.AddRange(await TimeAsync(database, "dashboard parent page: GetChildrenPageAsync(0, 20)", () => store.GetChildrenPageAsync(parentId, 0, 20)));
        list.AddRange(await TimeAsync(database, "client: GetChildrenAsync(limit 100)", () => rig.Workflows.GetChildrenAsync(parentId, 100)));
        await ExplainAsync(rig, runtime, parentId, count);
        return list;
    }

    /// <summary><paramref name="action"/> <see cref="QueryRequests"/> times after 2 warm-ups: median and max.</summary>
    private static async Task<IEnumerable<Measurement>> TimeAsync(string database, string name, Func<Task> action)
    {
        var samples = new List<double>();
        for (var i = 0; i < QueryRequests + 2; i++)
        {
            var clock = Stopwatch.StartNew();
            await action();
            if (i >= 2)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        samples.Sort();
        return
        [
            new(database, "only", 0, $"{name} p50 (ms)", samples[samples.Count / 2], true),
            new(database, "only", 0, $"{name} max (ms)", samples[^1], true),
        ];
    }

    /// <summary>From the rows (the engine's clock, milliseconds): the last child's end, and the latest claims of the wait and the next step.</summary>
    private static async Task<(DateTime ChildEnded, DateTime WaitClaimed, DateTime NextClaimed)> DatabaseTimesAsync(Rig rig, long parentId)
    {
        var (w, e) = rig.Database == "postgresql"
            ? ($"\"{rig.Schema}\".\"Workflows\"", $"\"{rig.Schema}\".\"StepExecutions\"")
            : ($"\"{Rig.SqlitePrefix}Workflows\"", $"\"{Rig.SqlitePrefix}StepExecutions\"");
        var sql = $"""
            SELECT (SELECT MAX("TransitionedAt") FROM {w} WHERE "ParentWorkflowId" = @Id),
                   (SELECT MAX("StartedAt") FROM {e} WHERE "WorkflowId" = @Id AND "StepName" = @Wait),
                   (SELECT MAX("StartedAt") FROM {e} WHERE "WorkflowId" = @Id AND "StepName" = 'after');
            """;
        var args = new { Id = parentId, Wait = $"wait_for_{FanOutParentWorkflow.Group}" };
        object?[] row;
        if (rig.Database == "postgresql")
        {
            await using var connection = new NpgsqlConnection(rig.Postgres);
            row = ((IDictionary<string, object?>)await connection.QuerySingleAsync(sql, args)).Values.ToArray();
        }
        else
        {
            await using var connection = new SqliteConnection(rig.SqliteConnectionString);
            row = ((IDictionary<string, object?>)await connection.QuerySingleAsync(sql, args)).Values.ToArray();
        }

        DateTime At(int i) => Convert.ToDateTime(row[i] ?? throw new InvalidOperationException($"No time in column {i} for parent {parentId}."), CultureInfo.InvariantCulture);
        return (At(0), At(1), At(2));
    }

    /// <summary>The plans of the parent page's two queries at this size, from the statements the store runs.</summary>
    private static async Task ExplainAsync(Rig rig, GenevaDriveRuntime runtime, long parentId, int count)
    {
        var queries = new (string Name, string Sql, object Args)[]
        {
            ("CountChildrenOfParent", runtime.Dialect.Sql.CountChildrenOfParent.Text, new { ParentWorkflowId = parentId }),
            ("SelectChildrenPage (0, 20)", runtime.Dialect.Sql.SelectChildrenPage.Text, new { ParentWorkflowId = parentId, Offset = 0, Limit = 20 }),
        };
        Plans.AppendLine(CultureInfo.InvariantCulture, $"### Plans on {rig.Database}, one parent with {count:N0} children (no ANALYZE run by the benchmark)");
        foreach (var (name, text, args) in queries)
        {
            Plans.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"{name}:").AppendLine("```");
            IEnumerable<string> lines;
            if (rig.Database == "postgresql")
            {
                await using var connection = new NpgsqlConnection(rig.Postgres);
                lines = await connection.QueryAsync<string>("EXPLAIN (ANALYZE, COSTS OFF) " + text, args);
            }
            else
            {
                await using var connection = new SqliteConnection(rig.SqliteConnectionString);
                lines = (await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + text, args)).Select(r => r.Detail);
            }

            foreach (var line in lines)
            {
                Plans.AppendLine(line);
            }

            Plans.AppendLine("```");
        }

        Plans.AppendLine();
    }

    private static string Build(IReadOnlyList<Measurement> results, int count)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# GenevaDrive child workflows benchmark — {DateTime.UtcNow:yyyy-MM-dd}");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, one BackgroundJobServer with {Rig.Workers} workers and a " +
            $"{Rig.Poll.TotalMilliseconds:0} ms queue poll per run, fresh Hangfire and GenevaDrive schemas per run. genevadrive = one parent workflow whose " +
            $"StartChildren step starts {count:N0} one-step child workflows (batches of {FanOutParentWorkflow.BatchSize}), WaitForChildren(All), then a step; " +
            $"hangfire = one job that enqueues {count:N0} no-op jobs, the last of which (an in-process counter) enqueues a final job. On both sides the " +
            $"workers run the children while they are being started. The start is timed inside the step or job (from its first hero to past its last); " +
            $"the wake from the last child's body to the body that follows the fan-in. One run each; the small wake runs: median [min–max] of " +
            $"{WakeRuns} after {WarmUps} warm-ups. Ratio = GenevaDrive ÷ plain Hangfire (inverted for 'lower is better', so above 1 is always better).");
        foreach (var database in results.Select(r => r.Database).Distinct())
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {database}: {count:N0} children of one parent");
            text.AppendLine();
            text.AppendLine("| metric | plain Hangfire | GenevaDrive | ratio |");
            text.AppendLine("|---|---|---|---|");
            // The big run's figures first, then the small wake runs'.
            foreach (var metric in results.Where(r => r.Database == database && r.Variant == "genevadrive").Select(r => r.Metric).Distinct()
                         .OrderBy(m => m.StartsWith("wake latency, ", StringComparison.Ordinal)))
            {
                var plain = Values(results, database, "hangfire", metric);
                var steps = Values(results, database, "genevadrive", metric);
                var lower = results.First(r => r.Metric == metric).LowerIsBetter;
                var ratio = lower ? Median(plain) / Median(steps) : Median(steps) / Median(plain);
                text.AppendLine(CultureInfo.InvariantCulture, $"| {metric} | {Describe(plain)} | {Describe(steps)} | {ratio:0.00} |");
            }

            text.AppendLine();
            text.AppendLine("| GenevaDrive only | value |");
            text.AppendLine("|---|---|");
            foreach (var m in results.Where(r => r.Database == database && r.Variant == "only"))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {m.Metric} | {m.Value:0.00} |");
            }
        }

        return text.AppendLine().ToString();
    }

    private static double[] Values(IEnumerable<Measurement> results, string database, string variant, string metric) =>
        results.Where(r => r.Database == database && r.Variant == variant && r.Metric == metric).Select(r => r.Value).Order().ToArray();

    private static double Median(double[] values) => values.Length == 0 ? double.NaN : values[values.Length / 2];

    private static string Describe(double[] values) => values.Length switch
    {
        0 => "–",
        1 => values[0].ToString("0.0", CultureInfo.InvariantCulture),
        _ => string.Create(CultureInfo.InvariantCulture, $"{Median(values):0.0} [{values[0]:0.0}–{values[^1]:0.0}]"),
    };
}
