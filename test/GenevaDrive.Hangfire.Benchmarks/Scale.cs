using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using GenevaDrive.Storage;
using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// The same GenevaDrive work on an empty store and on one pre-loaded (with SQL, in one statement per table) with a
/// million ended workflows and four executions each: step throughput, link latency and every dashboard page's answer
/// time, plus the plans of the dashboard's queries at that size.
/// </summary>
internal static class Scale
{
    /// <summary>Pre-loaded workflows (GENEVADRIVE_BENCH_SCALE overrides the default of 1,000,000).</summary>
    public static int Preloaded =>
        int.TryParse(Environment.GetEnvironmentVariable("GENEVADRIVE_BENCH_SCALE"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : 1_000_000;

    private const int DashboardRequests = 15;
    public static readonly StringBuilder Plans = new();

    /// <summary>
    /// One empty and one pre-loaded store, measured alternately <paramref name="repetitions"/> times each: 500 workflows
    /// × 4 steps started and run, a 200-step chain, and every dashboard page.
    /// </summary>
    public static async Task<IEnumerable<Measurement>> RunAsync(string database, string? postgres, int repetitions)
    {
        var list = new List<Measurement>();
        await using var empty = await Rig.CreateAsync(database, postgres);
        await using var loaded = await Rig.CreateAsync(database, postgres);
        var clock = Stopwatch.StartNew();
        await PreloadAsync(loaded, Preloaded);
        Console.WriteLine($"{database}: pre-loaded {Preloaded:N0} workflows and {Preloaded * 4L:N0} step executions in {clock.Elapsed.TotalSeconds:0} s");
        await ExplainAsync(loaded);
        for (var rep = 0; rep < repetitions; rep++)
        {
            var order = rep % 2 == 0 ? new[] { (empty, "empty"), (loaded, "loaded") } : new[] { (loaded, "loaded"), (empty, "empty") };
            foreach (var (rig, variant) in order)
            {
                list.AddRange(await MeasureAsync(rig, variant, rep));
                Console.WriteLine($"{database} scale rep {rep + 1}/{repetitions} {variant}: done");
            }
        }

        return list;
    }

    private static async Task<IEnumerable<Measurement>> MeasureAsync(Rig rig, string variant, int rep)
    {
        var database = rig.Database;
        var list = new List<Measurement>();
        rig.Probe.Reset();
        rig.StartServer();
        try
        {
            // 500 workflows × 4 steps, started and run by one server (start cost included: it depends on the size too).
            var units = Scenarios.Workflows * Scenarios.StepsPerWorkflow;
            var run = Stopwatch.StartNew();
            for (var i = 0; i < Scenarios.Workflows; i++)
            {
                await rig.Workflows.StartAsync<FourStepWorkflow>(new BenchHero($"scale-{rep}-{i}"));
            }

            await Scenarios.WaitAsync(() => rig.Probe.Done >= units, $"{units} steps on the {variant} {database} store");
            list.Add(new(database, variant, rep, "scale: 500 workflows × 4 steps started and run (steps/s)", units / run.Elapsed.TotalSeconds, false));

            // Link latency: a 200-step zero-wait chain.
            rig.Probe.Reset();
            await rig.Workflows.StartAsync<ChainWorkflow>(new BenchHero($"scale-chain-{rep}"));
            await Scenarios.WaitAsync(() => rig.Probe.Done >= 1, $"the chain on the {variant} {database} store");
            var times = Enumerable.Range(0, ChainWorkflow.Links).Select(i => rig.Probe.LinkTimes[i]).ToArray();
            var links = times.Zip(times.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds).Order().ToArray();
            list.Add(new(database, variant, rep, "scale: link latency p50 (ms)", links[links.Length / 2], true));
        }
        finally
        {
            rig.StopServer();
        }

        list.AddRange(await DashboardAsync(rig, variant, rep));
        list.AddRange(await DriftReportAsync(rig, variant, rep));
        return list;
    }

    /// <summary>The definition drift report (one grouped query of the in-flight rows), as IWorkflowClient answers it: median and max of 15.</summary>
    private static async Task<IEnumerable<Measurement>> DriftReportAsync(Rig rig, string variant, int rep)
    {
        var samples = new List<double>();
        for (var i = 0; i < DashboardRequests + 2; i++)
        {
            var clock = Stopwatch.StartNew();
            await rig.Workflows.GetDefinitionDriftAsync();
            if (i >= 2)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        samples.Sort();
        return
        [
            new(rig.Database, variant, rep, "drift report p50 (ms)", samples[samples.Count / 2], true),
            new(rig.Database, variant, rep, "drift report max (ms)", samples[^1], true),
        ];
    }

    /// <summary>Ended workflows of the bench type: 98% finished, 1% canceled, 1% paused on a failed last step.</summary>
    private static async Task PreloadAsync(Rig rig, int count)
    {
        if (rig.Database == "postgresql")
        {
            await using var connection = new NpgsqlConnection(rig.Postgres);
            await connection.OpenAsync();
            await using var tx = await connection.BeginTransactionAsync();
            var s = rig.Schema;
            await connection.ExecuteAsync($"""
                INSERT INTO "{s}"."Workflows" ("Type", "HeroType", "HeroId", "State", "NextStepName", "AllowMultiple", "StateReason", "CreatedAt", "UpdatedAt", "StartedAt", "TransitionedAt")
                SELECT 'bench_four', '{HeroType}', 'old-' || g,
                       CASE WHEN g % 100 = 0 THEN 'paused' WHEN g % 100 = 1 THEN 'canceled' ELSE 'finished' END,
                       CASE WHEN g % 100 = 0 THEN 'step_3' END, false,
                       CASE WHEN g % 100 = 0 THEN 'Step ''step_3'' failed: InvalidOperationException; workflow paused' END,
                       t, t + interval '4 seconds', t, t + interval '4 seconds'
                FROM generate_series(1, @count) g, LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' AS t) x;
                """, new { count }, tx, commandTimeout: 0);
            await connection.ExecuteAsync($"""
                INSERT INTO "{s}"."StepExecutions" ("WorkflowId", "StepName", "State", "Outcome", "ScheduledFor", "StartedAt", "CompletedAt", "FailedAt", "FinishedAt", "ErrorClassName", "ErrorMessage", "JobId", "CreatedAt", "UpdatedAt")
                SELECT w."Id", 'step_' || k,
                       CASE WHEN k = 3 AND w."State" = 'paused' THEN 'failed' WHEN k = 3 AND w."State" = 'canceled' THEN 'canceled' ELSE 'completed' END,
                       CASE WHEN k = 3 AND w."State" = 'paused' THEN 'failed' WHEN k = 3 AND w."State" = 'canceled' THEN 'canceled' ELSE 'success' END,
                       w."CreatedAt" + k * interval '1 second', w."CreatedAt" + k * interval '1 second',
                       CASE WHEN k < 3 OR w."State" = 'finished' THEN w."CreatedAt" + k * interval '1 second' END,
                       CASE WHEN k = 3 AND w."State" = 'paused' THEN w."CreatedAt" + k * interval '1 second' END,
                       w."CreatedAt" + k * interval '1 second',
                       CASE WHEN k = 3 AND w."State" = 'paused' THEN 'System.InvalidOperationException' END,
                       CASE WHEN k = 3 AND w."State" = 'paused' THEN 'The card was declined.' END,
                       (w."Id" * 4 + k)::text, w."CreatedAt" + k * interval '1 second', w."CreatedAt" + k * interval '1 second'
                FROM "{s}"."Workflows" w CROSS JOIN generate_series(0, 3) k
                WHERE w."HeroId" LIKE 'old-%';
                """, null, tx, commandTimeout: 0);
            await tx.CommitAsync();
            // VACUUM as autovacuum would: index-only scans then read no heap pages.
            // (one statement per command: VACUUM cannot run inside the implicit transaction of a batch)
            await connection.ExecuteAsync($"""VACUUM ANALYZE "{s}"."Workflows";""", commandTimeout: 0);
            await connection.ExecuteAsync($"""VACUUM ANALYZE "{s}"."StepExecutions";""", commandTimeout: 0);
            return;
        }

        await using var sqlite = new SqliteConnection(rig.SqliteConnectionString);
        await sqlite.OpenAsync();
        await using var stx = await sqlite.BeginTransactionAsync();
        var p = Rig.SqlitePrefix;
        await sqlite.ExecuteAsync($"""
            WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < @count)
            INSERT INTO "{p}Workflows" ("Type", "HeroType", "HeroId", "State", "NextStepName", "AllowMultiple", "StateReason", "CreatedAt", "UpdatedAt", "StartedAt", "TransitionedAt")
            SELECT 'bench_four', '{HeroType}', 'old-' || x,
                   CASE WHEN x % 100 = 0 THEN 'paused' WHEN x % 100 = 1 THEN 'canceled' ELSE 'finished' END,
                   CASE WHEN x % 100 = 0 THEN 'step_3' END, 0,
                   CASE WHEN x % 100 = 0 THEN 'Step ''step_3'' failed: InvalidOperationException; workflow paused' END,
                   strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || x || ' seconds'), strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || (x + 4) || ' seconds'),
                   strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || x || ' seconds'), strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || (x + 4) || ' seconds')
            FROM g;
            """, new { count }, stx, commandTimeout: 0);
        await sqlite.ExecuteAsync($"""
            WITH k(n) AS (VALUES (0), (1), (2), (3))
            INSERT INTO "{p}StepExecutions" ("WorkflowId", "StepName", "State", "Outcome", "ScheduledFor", "StartedAt", "CompletedAt", "FailedAt", "FinishedAt", "ErrorClassName", "ErrorMessage", "JobId", "CreatedAt", "UpdatedAt")
            SELECT w."Id", 'step_' || n,
                   CASE WHEN n = 3 AND w."State" = 'paused' THEN 'failed' WHEN n = 3 AND w."State" = 'canceled' THEN 'canceled' ELSE 'completed' END,
                   CASE WHEN n = 3 AND w."State" = 'paused' THEN 'failed' WHEN n = 3 AND w."State" = 'canceled' THEN 'canceled' ELSE 'success' END,
                   w."CreatedAt", w."CreatedAt",
                   CASE WHEN n < 3 OR w."State" = 'finished' THEN w."CreatedAt" END,
                   CASE WHEN n = 3 AND w."State" = 'paused' THEN w."CreatedAt" END,
                   w."CreatedAt",
                   CASE WHEN n = 3 AND w."State" = 'paused' THEN 'System.InvalidOperationException' END,
                   CASE WHEN n = 3 AND w."State" = 'paused' THEN 'The card was declined.' END,
                   CAST(w."Id" * 4 + n AS TEXT), w."CreatedAt", w."CreatedAt"
            FROM "{p}Workflows" w CROSS JOIN k
            WHERE w."HeroId" LIKE 'old-%'
            ORDER BY w."Id", n;
            """, null, stx, commandTimeout: 0);
        await stx.CommitAsync();
        await sqlite.ExecuteAsync("ANALYZE;", commandTimeout: 0);
    }

    private static string HeroType => typeof(BenchHero).FullName!;

    /// <summary>Every dashboard page GenevaDrive serves, timed over HTTP against a real dashboard on the rig's storage: median and max of 15.</summary>
    private static async Task<IEnumerable<Measurement>> DashboardAsync(Rig rig, string variant, int rep)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddHangfire(_ => { });
        await using var app = builder.Build();
        app.UseHangfireDashboard("/hangfire", new DashboardOptions(), rig.Storage);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var someWorkflow = variant == "loaded" ? Preloaded / 2 : 1;
        var pages = new (string Name, string Path)[]
        {
            ("list, all states (pills and total)", "/hangfire/genevadrive/workflows"),
            ("list, finished", "/hangfire/genevadrive/workflows?state=finished"),
            ("list, paused", "/hangfire/genevadrive/workflows?state=paused"),
            ("list, by type", "/hangfire/genevadrive/workflows?type=bench_four"),
            ("list, page 100", "/hangfire/genevadrive/workflows?from=2475&count=25"),
            ("hero search", $"/hangfire/genevadrive/workflows?hero=old-{Preloaded / 3}"),
            ("list, in flight at a step (drift links)", "/hangfire/genevadrive/workflows?type=bench_four&at=step_3"),
            ("workflow detail", $"/hangfire/genevadrive/workflows/{someWorkflow}"),
            ("Hangfire page with the badge", "/hangfire/servers"),
        };
        var list = new List<Measurement>();
        foreach (var (name, path) in pages)
        {
            var samples = new List<double>();
            for (var i = 0; i < DashboardRequests + 2; i++)
            {
                var clock = Stopwatch.StartNew();
                using var response = await http.GetAsync(path);
                var body = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {body[..Math.Min(300, body.Length)]}");
                }

                if (i >= 2)
                {
                    samples.Add(clock.Elapsed.TotalMilliseconds);
                }
            }

            samples.Sort();
            list.Add(new(rig.Database, variant, rep, $"dashboard: {name} p50 (ms)", samples[samples.Count / 2], true));
            list.Add(new(rig.Database, variant, rep, $"dashboard: {name} max (ms)", samples[^1], true));
        }

        await app.StopAsync();
        await app.DisposeAsync();
        // AddHangfire pointed Hangfire's process-wide log provider at this host's logger factory, now disposed.
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(new SilentLogProvider());
        return list;
    }

    /// <summary>The plans of the dashboard's queries on the loaded store, rendered from the same shared template the store uses.</summary>
    private static async Task ExplainAsync(Rig rig)
    {
        var postgres = rig.Database == "postgresql";
        var flavor = postgres
            ? new SqlFlavor
            {
                Workflows = $"\"{rig.Schema}\".\"Workflows\"", Executions = $"\"{rig.Schema}\".\"StepExecutions\"", Events = $"\"{rig.Schema}\".\"WorkflowEvents\"",
                Operations = $"\"{rig.Schema}\".\"Operations\"", Now = "now()",
                LockClause = " FOR UPDATE", ReturnsId = " RETURNING \"Id\";", NotAllowMultiple = "NOT \"AllowMultiple\"",
                Page = "LIMIT @Limit OFFSET @Offset", InIds = "= ANY(@Ids)",
            }
            : new SqlFlavor
            {
                Workflows = $"\"{Rig.SqlitePrefix}Workflows\"", Executions = $"\"{Rig.SqlitePrefix}StepExecutions\"", Events = $"\"{Rig.SqlitePrefix}WorkflowEvents\"",
                Operations = $"\"{Rig.SqlitePrefix}Operations\"", Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')",
                ReturnsId = " RETURNING \"Id\";", NotAllowMultiple = "\"AllowMultiple\" = 0", Page = "LIMIT @Limit OFFSET @Offset", InIds = "IN @Ids",
            };
        var sql = SqlTemplate.Build(flavor, s => s);
        // The page and count shapes: [0] unfiltered, [1] by state.
        var queries = new (string Name, string Sql, object Args)[]
        {
            ("list page", sql.SelectWorkflowsPage[0].Text, new { Offset = 0, Limit = 25 }),
            ("list page of one state", sql.SelectWorkflowsPage[1].Text, new { State = "paused", Offset = 0, Limit = 25 }),
            ("count of one state (badge, metrics)", sql.CountWorkflows[1].Text, new { State = "paused" }),
            ("counts by state (pills, refreshed in the background)", sql.CountWorkflowsByTypeAndState.Text, new { }),
            ("drift report (in-flight workflows by type, step and state)", sql.CountInFlightWorkflowsByStep.Text, new { }),
            ("in flight at a step (drift links)", sql.SelectInFlightWorkflowsAtStep.Text, new { Type = "bench_four", StepName = "step_3", Offset = 0, Limit = 25 }),
            ("hero search", sql.SelectWorkflowsByHero.Text, new { HeroType, HeroId = "old-12345" }),
            ("history of a workflow", sql.SelectStepExecutionHistory.Text, new { WorkflowId = 12345L }),
        };
        Plans.AppendLine(CultureInfo.InvariantCulture, $"### Plans on {rig.Database}, {Preloaded:N0} workflows");
        foreach (var (name, text, args) in queries)
        {
            Plans.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"{name}:").AppendLine("```");
            IEnumerable<string> lines;
            if (postgres)
            {
                await using var connection = new NpgsqlConnection(rig.Postgres);
                lines = await connection.QueryAsync<string>("EXPLAIN (ANALYZE, COSTS OFF) " + text, args);
            }
            else
            {
                await using var connection = new SqliteConnection(rig.SqliteConnectionString);
                lines = (await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + text, args))
                    .Select(r => r.Detail);
            }

            foreach (var line in lines)
            {
                Plans.AppendLine(line);
            }

            Plans.AppendLine("```");
        }

        Plans.AppendLine();
    }
}

/// <summary>Hangfire's logging, silenced (the benchmark prints its own progress).</summary>
internal sealed class SilentLogProvider : Hangfire.Logging.ILogProvider
{
    public Hangfire.Logging.ILog GetLogger(string name) => new Silent();

    private sealed class Silent : Hangfire.Logging.ILog
    {
        public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null) => false;
    }
}
