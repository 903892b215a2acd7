using Dapper;
using GenevaDrive.PostgreSql;
using GenevaDrive.Sqlite;
using GenevaDrive.SqlServer;
using GenevaDrive.Storage;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// A real, empty database (a temp SQLite file, or a fresh schema on a PostgreSQL or SQL Server server)
/// for one test. Servers come from environment variables; a missing server ignores the test with a
/// how-to message locally and fails it when CI=true.
/// </summary>
internal abstract class TestDatabase : IAsyncDisposable
{
    public const string PostgresVariable = "GENEVADRIVE_TEST_POSTGRES";
    public const string SqlServerVariable = "GENEVADRIVE_TEST_SQLSERVER";

    public static readonly string[] All = ["sqlite", "postgresql", SqlServerServer.Default];

    /// <summary>The storage conformance suite also runs on SQL Server with READ_COMMITTED_SNAPSHOT on and at compatibility level 120.</summary>
    public static readonly string[] AllWithSqlServerModes = [.. All, SqlServerServer.ReadCommittedSnapshot, SqlServerServer.CompatibilityLevel120];

    public abstract SqlDialect Dialect { get; }

    /// <summary>The connection string and schema (or table prefix) another process would use.</summary>
    public abstract (string ConnectionString, string SchemaOrPrefix) Target { get; }

    public static TestDatabase Create(string kind) => kind switch
    {
        "sqlite" => new SqliteTestDatabase(),
        "postgresql" => new PostgreSqlTestDatabase(RequireServer(PostgresVariable, "PostgreSQL",
            "run the tests through './build.ps1 test', which starts a throwaway PostgreSQL when the server binaries are installed, " +
            "or set it to a connection string such as 'Host=127.0.0.1;Username=postgres;Database=postgres'")),
        SqlServerServer.Default or SqlServerServer.ReadCommittedSnapshot or SqlServerServer.CompatibilityLevel120 =>
            new SqlServerTestDatabase(SqlServerServer.ConnectionString(kind) ?? RequireServer(SqlServerVariable, "SQL Server",
                "set it to a connection string of a SQL Server 2016+ database the tests may create schemas in, or make a Docker engine " +
                "reachable and the tests start a SQL Server 2022 container themselves")),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown test database."),
    };

    /// <summary>Creates a second dialect on the same database, as a second process would have.</summary>
    public abstract SqlDialect CreateDialect(bool prepareSchema = true, bool skipHeavyMigrations = false);

    public abstract Task InstallAsync(int? upToVersion = null);

    /// <summary>Points GenevaDrive's options at this database.</summary>
    public abstract void ConfigureStorage(GenevaDriveOptions options);

    public abstract Task<int> GetSchemaVersionAsync();

    public abstract ValueTask DisposeAsync();

    /// <summary>A table's quoted name on this database, schema or prefix applied (e.g. "StepExecutions").</summary>
    public string Table(string name) => this is SqliteTestDatabase
        ? $"\"{Target.SchemaOrPrefix}{name}\""
        : $"\"{Target.SchemaOrPrefix}\".\"{name}\"";

    /// <summary>Runs a statement on a connection of its own (identifiers double-quoted: every database here accepts that).</summary>
    public async Task<int> ExecuteAsync(string sql, object? args = null)
    {
        await using var connection = Dialect.CreateConnection();
        await connection.OpenAsync();
        return await connection.ExecuteAsync(sql, args);
    }

    /// <summary>Reads one value on a connection of its own.</summary>
    public async Task<T> ExecuteScalarAsync<T>(string sql, object? args = null)
    {
        await using var connection = Dialect.CreateConnection();
        await connection.OpenAsync();
        return (await connection.ExecuteScalarAsync<T>(sql, args))!;
    }

    /// <summary>How many rows a table holds.</summary>
    public async Task<long> CountRowsAsync(string table)
    {
        await using var connection = Dialect.CreateConnection();
        await connection.OpenAsync();
        return await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {Table(table)}");
    }

    /// <summary>Makes an execution's lease long expired, as if its worker stopped renewing it long ago.</summary>
    public Task ExpireLeaseAsync(long executionId) =>
        ExecuteAsync($"UPDATE {Table("StepExecutions")} SET \"LeaseExpiresAt\" = @At WHERE \"Id\" = @Id",
            new { At = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), Id = executionId });

    private static string RequireServer(string variable, string server, string howTo)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            return value;
        }

        var message = $"{server} tests need {variable}: {howTo}.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) &&
            variable == PostgresVariable)
        {
            Assert.Fail(message + " CI=true, so a missing server is a failure, not a skip.");
        }

        Assert.Ignore(message);
        return value!;
    }

    protected static string UniqueName() => "gd_" + Guid.NewGuid().ToString("N")[..12];

    private sealed class SqliteTestDatabase : TestDatabase
    {
        private readonly string _path = Path.Combine(Path.GetTempPath(), $"genevadrive-{Guid.NewGuid():N}.db");

        public string Prefix => _options.TablePrefix;
        private readonly SqliteWorkflowStorageOptions _options = new() { TablePrefix = "T_" };

        public SqliteTestDatabase()
        {
            Dialect = CreateDialect();
        }

        public override SqlDialect Dialect { get; }

        public override SqlDialect CreateDialect(bool prepareSchema = true, bool skipHeavyMigrations = false) =>
            new SqliteDialect($"Data Source={_path}", new SqliteWorkflowStorageOptions
            {
                TablePrefix = _options.TablePrefix, PrepareSchemaIfNecessary = prepareSchema, SkipHeavyMigrations = skipHeavyMigrations,
            });

        public string ConnectionString => $"Data Source={_path}";

        public override (string ConnectionString, string SchemaOrPrefix) Target => (ConnectionString, _options.TablePrefix);

        public override void ConfigureStorage(GenevaDriveOptions options) =>
            options.UseSqlite(ConnectionString, o => o.TablePrefix = _options.TablePrefix);

        public override Task InstallAsync(int? upToVersion = null) =>
            ((SqliteDialect)Dialect).InstallSchemaAsync(upToVersion, CancellationToken.None);

        public override Task<int> GetSchemaVersionAsync() => ((SqliteDialect)Dialect).GetSchemaVersionAsync();

        public override ValueTask DisposeAsync()
        {
            SqliteConnection.ClearAllPools();
            foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
            {
                File.Delete(file);
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class PostgreSqlTestDatabase : TestDatabase
    {
        private readonly List<SqlDialect> _dialects = [];

        private readonly string _connectionString;
        private readonly PostgreSqlWorkflowStorageOptions _options = new() { SchemaName = UniqueName() };

        public PostgreSqlTestDatabase(string connectionString)
        {
            _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 50 }.ToString();
            Dialect = CreateDialect();
        }

        public override SqlDialect Dialect { get; }

        public override SqlDialect CreateDialect(bool prepareSchema = true, bool skipHeavyMigrations = false)
        {
            var dialect = new PostgreSqlDialect(_connectionString, new PostgreSqlWorkflowStorageOptions
            {
                SchemaName = _options.SchemaName, PrepareSchemaIfNecessary = prepareSchema, SkipHeavyMigrations = skipHeavyMigrations,
            });
            _dialects.Add(dialect);
            return dialect;
        }

        public override (string ConnectionString, string SchemaOrPrefix) Target => (_connectionString, _options.SchemaName);

        public override void ConfigureStorage(GenevaDriveOptions options) =>
            options.UsePostgreSql(_connectionString, o => o.SchemaName = _options.SchemaName);

        public override Task InstallAsync(int? upToVersion = null) =>
            ((PostgreSqlDialect)Dialect).InstallSchemaAsync(upToVersion, CancellationToken.None);

        public override Task<int> GetSchemaVersionAsync() => ((PostgreSqlDialect)Dialect).GetSchemaVersionAsync();

        public override async ValueTask DisposeAsync()
        {
            foreach (var dialect in _dialects)
            {
                dialect.Dispose();
            }

            await using (var connection = new NpgsqlConnection(_connectionString))
            {
                await connection.OpenAsync();
                await connection.ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_options.SchemaName}\" CASCADE;");
            }

            NpgsqlConnection.ClearAllPools();
        }
    }

    private sealed class SqlServerTestDatabase : TestDatabase
    {
        private readonly string _connectionString;
        private readonly SqlServerWorkflowStorageOptions _options = new() { SchemaName = UniqueName() };

        public SqlServerTestDatabase(string connectionString)
        {
            _connectionString = connectionString;
            Dialect = CreateDialect();
        }

        public override SqlDialect Dialect { get; }

        public override SqlDialect CreateDialect(bool prepareSchema = true, bool skipHeavyMigrations = false) =>
            new SqlServerDialect(_connectionString, new SqlServerWorkflowStorageOptions
            {
                SchemaName = _options.SchemaName, PrepareSchemaIfNecessary = prepareSchema, SkipHeavyMigrations = skipHeavyMigrations,
            });

        public override (string ConnectionString, string SchemaOrPrefix) Target => (_connectionString, _options.SchemaName);

        public override void ConfigureStorage(GenevaDriveOptions options) =>
            options.UseSqlServer(_connectionString, o => o.SchemaName = _options.SchemaName);

        public override Task InstallAsync(int? upToVersion = null) =>
            ((SqlServerDialect)Dialect).InstallSchemaAsync(upToVersion, CancellationToken.None);

        public override Task<int> GetSchemaVersionAsync() => ((SqlServerDialect)Dialect).GetSchemaVersionAsync();

        public override async ValueTask DisposeAsync()
        {
            var s = _options.SchemaName;
            await using var connection = new SqlConnection(_connectionString);
            await connection.OpenAsync();
            await connection.ExecuteAsync(
                $"DROP TABLE IF EXISTS [{s}].[StepExecutions]; DROP TABLE IF EXISTS [{s}].[Workflows]; " +
                $"DROP TABLE IF EXISTS [{s}].[SchemaVersion]; IF SCHEMA_ID(N'{s}') IS NOT NULL EXEC (N'DROP SCHEMA [{s}]');");
        }
    }
}
