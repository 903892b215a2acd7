using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;
using Microsoft.Data.Sqlite;

namespace GenevaDrive.Sqlite;

/// <summary>
/// SQLite: every SQL statement of the SQLite storage. Writers serialize on the database write lock,
/// taken at the start of each transaction (<c>BEGIN IMMEDIATE</c>), so the plain SELECTs inside a
/// transaction already see and hold a stable state. Files use WAL so readers never block the writer.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{


    private readonly string _connectionString;
    private readonly string _prefix;

    public SqliteDialect(string connectionString, SqliteWorkflowStorageOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (builder.DefaultTimeout < 30)
        {
            // Concurrent writers wait for the write lock instead of failing with SQLITE_BUSY.
            builder.DefaultTimeout = 30;
        }

        _connectionString = builder.ToString();
        _prefix = SqlIdentifier.ValidateTablePrefix(options.TablePrefix, nameof(options.TablePrefix));
        PrepareSchemaIfNecessary = options.PrepareSchemaIfNecessary;
        _skipHeavyMigrations = options.SkipHeavyMigrations;
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        Sql = BuildStatements(_prefix);
    }

    public override int ContractVersion => StorageContract.Version;

    public override string Name => "SQLite";

    public override int? CommandTimeoutSeconds { get; }

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    private readonly bool _skipHeavyMigrations;

    public string TablePrefix => _prefix;

    public override DbConnection CreateConnection() => new SqliteConnection(_connectionString);

    public override Task<DbTransaction> BeginTransactionAsync(DbConnection connection, CancellationToken ct) =>
        Task.FromResult(BeginTransaction(connection));

    public override DbTransaction BeginTransaction(DbConnection connection) =>
        ((SqliteConnection)connection).BeginTransaction(deferred: false);

    public override bool IsUniqueViolation(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };

    // SQLITE_BUSY and SQLITE_LOCKED: another writer held the database longer than the busy timeout.
    protected override bool IsTransientFault(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 5 or 6 };

    // SQLite's limit on host parameters is 32766; stay far below.
    public override int MaxBatchSize => 5000;

    // One writer per file: a background writer of job ids would contend with every start and step for the lock.
    public override bool SingleWriter => true;

    internal static string CreateVersionTable(string prefix) =>
        $"CREATE TABLE IF NOT EXISTS \"{prefix}SchemaVersion\" (\"Id\" INTEGER NOT NULL PRIMARY KEY, \"Version\" INTEGER NOT NULL);";

    internal static string RecordVersion(string prefix, string version) =>
        $"INSERT OR REPLACE INTO \"{prefix}SchemaVersion\" (\"Id\", \"Version\") VALUES (1, {version});";

    internal static SchemaScript LoadScript(string prefix) =>
        SchemaScript.Load(typeof(SqliteDialect).Assembly, "GenevaDrive.Sqlite.Install.sql",
            new Dictionary<string, string> { ["{P}"] = prefix });

    public override Task InstallSchemaAsync(CancellationToken ct) => InstallSchemaAsync(null, ct);

    /// <summary>Installs migrations up to <paramref name="upToVersion"/> (all when null); used by upgrade tests.</summary>
    internal async Task InstallSchemaAsync(int? upToVersion, CancellationToken ct)
    {
        var script = LoadScript(_prefix);
        await using var connection = (SqliteConnection)CreateConnection();
        await connection.OpenAsync(ct).ConfigureAwait(false);
        // WAL lets readers run beside the single writer; it is a property of the file and persists.
        await connection.ExecuteAsync("PRAGMA journal_mode = WAL;").ConfigureAwait(false);
        // One transaction per migration; BEGIN IMMEDIATE is the install lock.
        await script.MigrateAsync(connection, async (c, token) =>
            {
                var tx = ((SqliteConnection)c).BeginTransaction(deferred: false);
                await c.ExecuteAsync(new CommandDefinition(CreateVersionTable(_prefix), transaction: tx, cancellationToken: token)).ConfigureAwait(false);
                return tx;
            },
            $"SELECT \"Version\" FROM \"{_prefix}SchemaVersion\" WHERE \"Id\" = 1;", RecordVersion(_prefix, "@version"), upToVersion,
            InstallLogger, ct, _skipHeavyMigrations, isTransient: IsTransient).ConfigureAwait(false);
    }

    public override int? SchemaVersion => _schemaVersion ??= LoadScript(_prefix).LatestVersion;

    private int? _schemaVersion;

    public override async Task<int?> ReadInstalledSchemaVersionAsync(CancellationToken ct) => await GetSchemaVersionAsync().ConfigureAwait(false);

    /// <summary>The schema version recorded in the database (0 when not installed).</summary>
    internal async Task<int> GetSchemaVersionAsync()
    {
        await using var connection = CreateConnection();
        await connection.OpenAsync().ConfigureAwait(false);
        var exists = await connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = @name;", new { name = _prefix + "SchemaVersion" })
            .ConfigureAwait(false);
        return exists == 0
            ? 0
            : await connection.ExecuteScalarAsync<int>($"SELECT \"Version\" FROM \"{_prefix}SchemaVersion\" WHERE \"Id\" = 1;")
                .ConfigureAwait(false);
    }

    private static StorageStatements BuildStatements(string p)
    {
        var flavor = new SqlFlavor
        {
            Workflows = $"\"{p}Workflows\"",
            Executions = $"\"{p}StepExecutions\"",
            Events = $"\"{p}WorkflowEvents\"",
            Operations = $"\"{p}Operations\"",
            // The same text form as the stored times (they compare as text).
            Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')",
            LeaseExpiry = "strftime('%Y-%m-%d %H:%M:%f', 'now', (@LeaseMilliseconds / 1000.0) || ' seconds')",
            ReturnsId = " RETURNING \"Id\";",
            NotAllowMultiple = "\"AllowMultiple\" = 0",
            Page = "LIMIT @Limit OFFSET @Offset",
            InIds = "IN @Ids",
        };
        return SqlTemplate.Build(flavor, shared => shared with
        {
            // BEGIN IMMEDIATE already holds the database's write lock: the rows cannot change under the batch.
            LockEndedWorkflowIds = shared.LockEndedWorkflowIds.WithText(SqlTemplate.Render(flavor,
                "SELECT \"Id\" FROM {W} WHERE \"State\" IN ('finished', 'canceled') AND \"TransitionedAt\" < @Cutoff ORDER BY \"Id\" LIMIT @Limit;")),
            DeleteStepExecutionsOfWorkflows = shared.DeleteStepExecutionsOfWorkflows.WithText(SqlTemplate.Render(flavor,
                "DELETE FROM {E} WHERE \"Id\" IN (SELECT \"Id\" FROM {E} WHERE \"WorkflowId\" IN @Ids LIMIT @Limit);")),
        });
    }
}
