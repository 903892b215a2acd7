using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using GenevaDrive.PostgreSql;
using GenevaDrive.Sqlite;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// The upgrade benchmark (<c>build.ps1 upgrade-bench</c>): a database at schema version 1 loaded with workflows and four
/// step executions each, upgraded to the latest version by this build's installer, one migration at a time, while a
/// worker written against version 1 goes on running steps on the same tables. It reports each migration's duration, the
/// old worker's transactions (how many, the slowest, the 99th percentile, and any that failed), and checks that no row
/// was lost. The old worker is a loop of version-1 transactions (lock the workflow, close its scheduled execution,
/// insert the next one, move the workflow on): the statements a version-1 build runs, since its code cannot run here.
/// </summary>
internal static class Upgrade
{
    private const int StepsPerWorkflow = 4;

    /// <summary>One in this many workflows is ready, with a scheduled step for the old worker to run.</summary>
    private const int ReadyEvery = 100;

    public static async Task<string> RunAsync(string database, string? postgres, int workflows)
    {
        var report = new StringBuilder();
        var target = Target.Create(database, postgres);
        try
        {
            await target.InstallAsync(1).ConfigureAwait(false);
            var loading = Stopwatch.StartNew();
            await target.LoadAsync(workflows).ConfigureAwait(false);
            var loaded = loading.Elapsed;
            var rowsBefore = await target.CountAsync().ConfigureAwait(false);

            using var stop = new CancellationTokenSource();
            var oldWorker = Task.Run(() => target.RunOldWorkerAsync(workflows, stop.Token));
            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false); // the old worker at its pace before the upgrade
            var migrations = new List<(int Version, TimeSpan Took)>();
            for (var next = 2; next <= target.LatestVersion; next++)
            {
                var took = Stopwatch.StartNew();
                await target.InstallAsync(next).ConfigureAwait(false);
                migrations.Add((next, took.Elapsed));
            }

            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false); // and after it, on the new schema
            await stop.CancelAsync().ConfigureAwait(false);
            var worker = await oldWorker.ConfigureAwait(false);
            var rowsAfter = await target.CountAsync().ConfigureAwait(false);
            var version = await target.VersionAsync().ConfigureAwait(false);

            var during = worker.Latencies.Where(l => l.During).Select(l => l.Took.TotalMilliseconds).Order().ToList();
            var all = worker.Latencies.Select(l => l.Took.TotalMilliseconds).Order().ToList();
            report.AppendLine(CultureInfo.InvariantCulture,
                $"### {target.Name}: {workflows:N0} workflows, {workflows * StepsPerWorkflow:N0} step executions at schema version 1 (loaded in {loaded.TotalSeconds:0.0} s)");
            report.AppendLine();
            report.AppendLine("| migration | duration (ms) |");
            report.AppendLine("|---|---|");
            foreach (var (v, took) in migrations)
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"| {v}{(target.Heavy.ContainsKey(v) ? " (heavy)" : "")} | {took.TotalMilliseconds:0} |");
            }

            report.AppendLine(CultureInfo.InvariantCulture, $"| all, from 1 to {version} | {migrations.Sum(m => m.Took.TotalMilliseconds):0} |");
            report.AppendLine();
            var failures = worker.Failures.Count > 0 ? " (first: " + worker.Failures[0] + ")" : "";
            report.AppendLine(CultureInfo.InvariantCulture,
                $"Old (version-1) worker: {all.Count:N0} step transactions, {during.Count:N0} of them while the migrations ran; " +
                $"slowest {Percentile(all, 1.0):0} ms (while migrating: {Percentile(during, 1.0):0} ms), p99 {Percentile(all, 0.99):0.0} ms, " +
                $"median {Percentile(all, 0.5):0.0} ms; transactions repeated after a deadlock or lock timeout: {worker.Retries}; steps failed: {worker.Failures.Count}{failures}.");
            var intact = rowsAfter.Workflows == rowsBefore.Workflows && rowsAfter.Executions == rowsBefore.Executions + worker.Latencies.Count;
            report.AppendLine(CultureInfo.InvariantCulture,
                $"Rows: {rowsBefore.Workflows:N0} workflows before and {rowsAfter.Workflows:N0} after; {rowsBefore.Executions:N0} executions before, " +
                $"{rowsAfter.Executions:N0} after ({worker.Latencies.Count:N0} inserted by the old worker): {(intact ? "none lost" : "ROWS LOST")}. " +
                $"Schema version {version}, one installer run per migration, no restart.");
            report.AppendLine();
            return report.ToString();
        }
        finally
        {
            await target.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private sealed record WorkerResult(List<(TimeSpan Took, bool During)> Latencies, List<string> Failures)
    {
        public int Retries { get; set; }
    }

    /// <summary>One database under the benchmark: a fresh PostgreSQL schema or SQLite file.</summary>
    private abstract class Target : IAsyncDisposable
    {
        public static volatile bool Migrating;

        public abstract string Name { get; }

        public abstract int LatestVersion { get; }

        public abstract IReadOnlyDictionary<int, string> Heavy { get; }

        public static Target Create(string database, string? postgres) => database == "postgresql"
            ? new PostgresTarget(postgres ?? throw new InvalidOperationException("GENEVADRIVE_TEST_POSTGRES is not set."))
            : new SqliteTarget();

        /// <summary>Migrates up to a version, marking the time as "while migrating" for the old worker's figures.</summary>
        public async Task InstallAsync(int upToVersion)
        {
            Migrating = upToVersion > 1;
            try
            {
                await InstallCoreAsync(upToVersion).ConfigureAwait(false);
            }
            finally
            {
                Migrating = false;
            }
        }

        protected abstract Task InstallCoreAsync(int upToVersion);

        public abstract Task LoadAsync(int workflows);

        protected abstract DbConnection Open();

        protected abstract string W { get; }

        protected abstract string E { get; }

        protected abstract string Lock { get; }

        protected abstract string Now { get; }

        protected abstract Task<DbTransaction> BeginAsync(DbConnection connection);

        public abstract ValueTask DisposeAsync();

        public async Task<(long Workflows, long Executions)> CountAsync()
        {
            await using var connection = Open();
            return (await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {W}").ConfigureAwait(false),
                await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {E}").ConfigureAwait(false));
        }

        public abstract Task<int> VersionAsync();

        private static bool IsTransient(Exception e) =>
            e is PostgresException { SqlState: "40P01" or "55P03" or "40001" } or SqliteException { SqliteErrorCode: 5 or 6 };

        /// <summary>One version-1 step: lock the workflow, close its scheduled execution, insert the next one, move the workflow on.</summary>
        private async Task StepAsync(DbConnection connection, long id, string next)
        {
            await using var tx = await BeginAsync(connection).ConfigureAwait(false);
            await connection.ExecuteScalarAsync<long?>($"SELECT \"Id\" FROM {W} WHERE \"Id\" = @id{Lock}", new { id }, tx).ConfigureAwait(false);
            var execution = await connection.ExecuteScalarAsync<long?>(
                $"SELECT \"Id\" FROM {E} WHERE \"WorkflowId\" = @id AND \"State\" IN ('scheduled', 'in_progress'){Lock}", new { id }, tx).ConfigureAwait(false);
            if (execution is { } closing)
            {
                await connection.ExecuteAsync($"UPDATE {E} SET \"State\" = 'completed', \"Outcome\" = 'success', \"CompletedAt\" = {Now}, " +
                    $"\"FinishedAt\" = {Now}, \"UpdatedAt\" = {Now} WHERE \"Id\" = @closing", new { closing }, tx).ConfigureAwait(false);
            }

            await connection.ExecuteAsync($"INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"ScheduledFor\", \"CreatedAt\", \"UpdatedAt\") " +
                $"VALUES (@id, @next, 'scheduled', {Now}, {Now}, {Now})", new { id, next }, tx).ConfigureAwait(false);
            await connection.ExecuteAsync($"UPDATE {W} SET \"CurrentStepName\" = NULL, \"NextStepName\" = @next, \"UpdatedAt\" = {Now} WHERE \"Id\" = @id",
                new { id, next }, tx).ConfigureAwait(false);
            await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        /// <summary>Version-1 step transactions on random ready workflows, back to back, until stopped.</summary>
        public async Task<WorkerResult> RunOldWorkerAsync(int workflows, CancellationToken stop)
        {
            var result = new WorkerResult([], []);
            var random = new Random(7);
            await using var connection = Open();
            var step = 5;
            while (!stop.IsCancellationRequested)
            {
                var id = (long)random.Next(1, workflows / ReadyEvery + 1) * ReadyEvery;
                var during = Migrating;
                var took = Stopwatch.StartNew();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await StepAsync(connection, id, "step_" + step.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
                        result.Latencies.Add((took.Elapsed, during || Migrating));
                        step++;
                        break;
                    }
                    catch (Exception e) when (IsTransient(e) && attempt < 10 && !stop.IsCancellationRequested)
                    {
                        // As the store of every GenevaDrive version does: a deadlock or lock timeout repeats the transaction.
                        result.Retries++;
                    }
                    catch (Exception e) when (!stop.IsCancellationRequested)
                    {
                        result.Failures.Add($"{e.GetType().Name}: {e.Message}");
                        break;
                    }
                    catch (Exception) when (stop.IsCancellationRequested)
                    {
                        break;
                    }
                }
            }

            return result;
        }
    }

    private sealed class PostgresTarget(string connectionString) : Target
    {
        private readonly string _schema = "upgrade_" + Guid.NewGuid().ToString("N")[..12];
        private PostgreSqlDialect? _dialect;

        private PostgreSqlDialect Dialect => _dialect ??= new PostgreSqlDialect(connectionString, new PostgreSqlWorkflowStorageOptions { SchemaName = _schema });

        public override string Name => "PostgreSQL";

        public override int LatestVersion => PostgreSqlWorkflowSchema.LatestVersion;

        public override IReadOnlyDictionary<int, string> Heavy => PostgreSqlDialect.LoadScript(_schema).Heavy;

        protected override string W => $"\"{_schema}\".\"Workflows\"";

        protected override string E => $"\"{_schema}\".\"StepExecutions\"";

        protected override string Lock => " FOR UPDATE";

        protected override string Now => "now()";

        protected override Task InstallCoreAsync(int upToVersion) => Dialect.InstallSchemaAsync(upToVersion, CancellationToken.None);

        public override async Task LoadAsync(int workflows)
        {
            await using var connection = Open();
            await connection.ExecuteAsync(
                $"INSERT INTO {W} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"NextStepName\", \"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\") " +
                $"SELECT 'bench_upgrade', 'User', 'u' || g, CASE WHEN g % {ReadyEvery} = 0 THEN 'ready' ELSE 'finished' END, " +
                $"CASE WHEN g % {ReadyEvery} = 0 THEN 'step_4' END, now(), now(), now(), CASE WHEN g % {ReadyEvery} <> 0 THEN now() END " +
                "FROM generate_series(1, @workflows) g ORDER BY g", new { workflows }, commandTimeout: 0).ConfigureAwait(false);
            await connection.ExecuteAsync(
                $"INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"CompletedAt\", \"FinishedAt\", \"CreatedAt\", \"UpdatedAt\") " +
                $"SELECT w, 'step_' || k, CASE WHEN w % {ReadyEvery} = 0 AND k = {StepsPerWorkflow} THEN 'scheduled' ELSE 'completed' END, " +
                $"CASE WHEN w % {ReadyEvery} = 0 AND k = {StepsPerWorkflow} THEN NULL ELSE 'success' END, now(), now(), now(), now(), now(), now() " +
                $"FROM generate_series(1, @workflows) w, generate_series(1, {StepsPerWorkflow}) k", new { workflows }, commandTimeout: 0).ConfigureAwait(false);
            await connection.ExecuteAsync($"ANALYZE {W}; ANALYZE {E};", commandTimeout: 0).ConfigureAwait(false);
        }

        protected override DbConnection Open()
        {
            var connection = new NpgsqlConnection(connectionString);
            connection.Open();
            return connection;
        }

        protected override async Task<DbTransaction> BeginAsync(DbConnection connection) =>
            await connection.BeginTransactionAsync().ConfigureAwait(false);

        public override async Task<int> VersionAsync() => await Dialect.GetSchemaVersionAsync().ConfigureAwait(false);

        public override async ValueTask DisposeAsync()
        {
            await using (var connection = Open())
            {
                await connection.ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE", commandTimeout: 0).ConfigureAwait(false);
            }

            _dialect?.Dispose();
        }
    }

    private sealed class SqliteTarget : Target
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("genevadrive-upgrade-").FullName;
        private SqliteDialect? _dialect;

        private string ConnectionString => $"Data Source={Path.Combine(_folder, "workflows.db")}";

        private SqliteDialect Dialect => _dialect ??= new SqliteDialect(ConnectionString, new SqliteWorkflowStorageOptions { TablePrefix = Rig.SqlitePrefix });

        public override string Name => "SQLite";

        public override int LatestVersion => SqliteWorkflowSchema.LatestVersion;

        public override IReadOnlyDictionary<int, string> Heavy => SqliteDialect.LoadScript(Rig.SqlitePrefix).Heavy;

        protected override string W => $"\"{Rig.SqlitePrefix}Workflows\"";

        protected override string E => $"\"{Rig.SqlitePrefix}StepExecutions\"";

        protected override string Lock => "";

        protected override string Now => "strftime('%Y-%m-%d %H:%M:%f', 'now')";

        protected override Task InstallCoreAsync(int upToVersion) => Dialect.InstallSchemaAsync(upToVersion, CancellationToken.None);

        public override async Task LoadAsync(int workflows)
        {
            await using var connection = Open();
            await using var tx = await connection.BeginTransactionAsync().ConfigureAwait(false);
            await connection.ExecuteAsync(
                $"WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < @workflows) " +
                $"INSERT INTO {W} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"NextStepName\", \"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\") " +
                $"SELECT 'bench_upgrade', 'User', 'u' || x, CASE WHEN x % {ReadyEvery} = 0 THEN 'ready' ELSE 'finished' END, " +
                $"CASE WHEN x % {ReadyEvery} = 0 THEN 'step_4' END, {Now}, {Now}, {Now}, CASE WHEN x % {ReadyEvery} <> 0 THEN {Now} END FROM g",
                new { workflows }, tx, commandTimeout: 0).ConfigureAwait(false);
            await connection.ExecuteAsync(
                $"WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < @workflows), k(y) AS (SELECT 1 UNION ALL SELECT y + 1 FROM k WHERE y < {StepsPerWorkflow}) " +
                $"INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"CompletedAt\", \"FinishedAt\", \"CreatedAt\", \"UpdatedAt\") " +
                $"SELECT x, 'step_' || y, CASE WHEN x % {ReadyEvery} = 0 AND y = {StepsPerWorkflow} THEN 'scheduled' ELSE 'completed' END, " +
                $"CASE WHEN x % {ReadyEvery} = 0 AND y = {StepsPerWorkflow} THEN NULL ELSE 'success' END, {Now}, {Now}, {Now}, {Now}, {Now}, {Now} FROM g, k",
                new { workflows }, tx, commandTimeout: 0).ConfigureAwait(false);
            await tx.CommitAsync().ConfigureAwait(false);
        }

        protected override DbConnection Open()
        {
            // The version-1 worker waits for the database's write lock up to the provider's default command timeout (30 s).
            var connection = new SqliteConnection(ConnectionString);
            connection.Open();
            return connection;
        }

        protected override async Task<DbTransaction> BeginAsync(DbConnection connection)
        {
            var tx = await connection.BeginTransactionAsync().ConfigureAwait(false);
            // Take the write lock at once, as the storage does (BEGIN IMMEDIATE).
            await connection.ExecuteAsync($"UPDATE {W} SET \"Id\" = \"Id\" WHERE 0", transaction: tx).ConfigureAwait(false);
            return tx;
        }

        public override async Task<int> VersionAsync() => await Dialect.GetSchemaVersionAsync().ConfigureAwait(false);

        public override ValueTask DisposeAsync()
        {
            _dialect?.Dispose();
            SqliteConnection.ClearAllPools();
            Directory.Delete(_folder, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}
