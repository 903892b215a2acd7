using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using Microsoft.Data.Sqlite;

namespace GenevaDrive.Sqlite;

/// <summary>
/// SQLite: every SQL statement of the SQLite storage. Writers serialize on the database write lock,
/// taken at the start of each transaction (<c>BEGIN IMMEDIATE</c>), so the plain SELECTs inside a
/// transaction already see and hold a stable state. Files use WAL so readers never block the writer.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{
    private const string WorkflowColumns =
        "\"Id\", \"Type\", \"HeroType\", \"HeroId\", \"State\", \"CurrentStepName\", \"NextStepName\", \"AllowMultiple\", \"PausedByJobId\", \"StateReason\", " +
        "\"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\", \"TraceParent\"";

    private const string ExecutionColumns =
        "\"Id\", \"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"CompletedAt\", " +
        "\"FailedAt\", \"CanceledAt\", \"SkippedAt\", \"FinishedAt\", \"ErrorClassName\", \"ErrorMessage\", \"ErrorBacktrace\", " +
        "\"JobId\", \"DispatchedAt\", \"LeaseToken\", \"HeartbeatAt\", \"LeaseExpiresAt\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", " +
        "\"Attempt\", \"Cursor\", \"Checkpoints\", \"WaitingFor\", \"WaitUntil\"";

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
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        Sql = BuildStatements(_prefix);
    }

    public override string Name => "SQLite";

    public override int? CommandTimeoutSeconds { get; }

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    public string TablePrefix => _prefix;

    public override DbConnection CreateConnection() => new SqliteConnection(_connectionString);

    public override Task<DbTransaction> BeginTransactionAsync(DbConnection connection, CancellationToken ct) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override bool IsUniqueViolation(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };

    // SQLITE_BUSY and SQLITE_LOCKED: another writer held the database longer than the busy timeout.
    protected override bool IsTransientFault(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 5 or 6 };

    // SQLite's limit on host parameters is 32766; stay far below.
    public override int MaxBatchSize => 5000;

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
        await using var tx = connection.BeginTransaction(deferred: false);
        await connection.ExecuteAsync(CreateVersionTable(_prefix), transaction: tx).ConfigureAwait(false);
        var current = await connection.ExecuteScalarAsync<int?>(
            $"SELECT \"Version\" FROM \"{_prefix}SchemaVersion\" WHERE \"Id\" = 1;", transaction: tx).ConfigureAwait(false) ?? 0;
        await script.ApplyAsync(connection, tx, current, upToVersion, RecordVersion(_prefix, "@version")).ConfigureAwait(false);

        tx.Commit();
    }

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
        var workflows = $"\"{p}Workflows\"";
        var executions = $"\"{p}StepExecutions\"";
        var events = $"\"{p}WorkflowEvents\"";
        return new StorageStatements
        {
            InsertWorkflow =
                $"INSERT INTO {workflows} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"CurrentStepName\", \"NextStepName\", \"AllowMultiple\", \"PausedByJobId\", \"StateReason\", " +
                "\"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\", \"TraceParent\") VALUES (@Type, @HeroType, @HeroId, @State, @CurrentStepName, " +
                "@NextStepName, @AllowMultiple, @PausedByJobId, @StateReason, @CreatedAt, @UpdatedAt, @StartedAt, @TransitionedAt, @TraceParent) RETURNING \"Id\";",
            InsertStepExecution =
                $"INSERT INTO {executions} (\"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"JobId\", \"DispatchedAt\", " +
                "\"LeaseToken\", \"HeartbeatAt\", \"LeaseExpiresAt\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", \"Attempt\", \"Cursor\", \"WaitingFor\", \"WaitUntil\") VALUES (@WorkflowId, @StepName, " +
                "@State, @Outcome, @ScheduledFor, @StartedAt, @JobId, @DispatchedAt, @LeaseToken, @HeartbeatAt, @LeaseExpiresAt, @Metadata, @CreatedAt, " +
                "@UpdatedAt, @Attempt, @Cursor, @WaitingFor, @WaitUntil) RETURNING \"Id\";",
            SelectWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WHERE \"Id\" = @Id;",
            LockWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WHERE \"Id\" = @Id;",
            SelectStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE \"Id\" = @Id;",
            LockStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE \"Id\" = @Id;",
            LockActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"WorkflowId\" = @WorkflowId AND \"State\" IN ('scheduled', 'in_progress');",
            SelectActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"WorkflowId\" = @WorkflowId AND \"State\" IN ('scheduled', 'in_progress');",
            UpdateWorkflow =
                $"UPDATE {workflows} SET \"State\" = @State, \"CurrentStepName\" = @CurrentStepName, \"NextStepName\" = @NextStepName, \"PausedByJobId\" = @PausedByJobId, \"StateReason\" = @StateReason, " +
                "\"StartedAt\" = @StartedAt, \"TransitionedAt\" = @TransitionedAt, \"UpdatedAt\" = @UpdatedAt WHERE \"Id\" = @Id;",
            UpdateStepExecution =
                $"UPDATE {executions} SET \"State\" = @State, \"Outcome\" = @Outcome, \"ScheduledFor\" = @ScheduledFor, \"StartedAt\" = @StartedAt, " +
                "\"CompletedAt\" = @CompletedAt, \"FailedAt\" = @FailedAt, \"CanceledAt\" = @CanceledAt, \"SkippedAt\" = @SkippedAt, " +
                "\"FinishedAt\" = @FinishedAt, \"ErrorClassName\" = @ErrorClassName, \"ErrorMessage\" = @ErrorMessage, " +
                "\"ErrorBacktrace\" = @ErrorBacktrace, \"JobId\" = @JobId, \"DispatchedAt\" = @DispatchedAt, \"LeaseToken\" = @LeaseToken, \"HeartbeatAt\" = @HeartbeatAt, " +
                "\"LeaseExpiresAt\" = @LeaseExpiresAt, \"Metadata\" = @Metadata, \"UpdatedAt\" = @UpdatedAt WHERE \"Id\" = @Id;",
            SetStepExecutionJobId =
                $"UPDATE {executions} SET \"JobId\" = @JobId, \"DispatchedAt\" = @Now, \"UpdatedAt\" = @Now WHERE \"Id\" = @Id AND \"State\" = 'scheduled';",
            Heartbeat =
                $"UPDATE {executions} SET \"HeartbeatAt\" = @Now, \"LeaseExpiresAt\" = @LeaseExpiresAt, \"UpdatedAt\" = @Now " +
                "WHERE \"Id\" = @Id AND \"State\" = 'in_progress' AND \"LeaseToken\" = @LeaseToken;",
            SelectWorkflowState = $"SELECT \"State\" FROM {workflows} WHERE \"Id\" = @Id;",
            SelectLatestStepExecutionId = $"SELECT MAX(\"Id\") FROM {executions} WHERE \"WorkflowId\" = @WorkflowId;",
            Checkpoint =
                $"UPDATE {executions} SET \"Cursor\" = @Cursor, \"Checkpoints\" = \"Checkpoints\" + 1, \"UpdatedAt\" = @Now " +
                "WHERE \"Id\" = @Id AND \"State\" = 'in_progress' AND \"LeaseToken\" = @LeaseToken;",
            SelectLatestStepExecutionOfStep =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName ORDER BY \"Id\" DESC LIMIT 1;",
            RenameHeroType = $"UPDATE {workflows} SET \"HeroType\" = @NewName WHERE \"HeroType\" = @OldName;",
            InsertEvent =
                $"INSERT INTO {events} (\"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\") " +
                "VALUES (@WorkflowId, @Name, @EventKey, @Payload, @TraceParent, @CreatedAt) RETURNING \"Id\";",
            SelectEventByKey =
                $"SELECT \"Id\", \"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\", \"ConsumedByExecutionId\" FROM {events} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"EventKey\" = @EventKey;",
            SelectUnconsumedEvent =
                $"SELECT \"Id\", \"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\", \"ConsumedByExecutionId\" FROM {events} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"ConsumedAt\" IS NULL ORDER BY \"Id\" LIMIT 1;",
            SelectLatestConsumedEvent =
                $"SELECT \"Id\", \"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\", \"ConsumedByExecutionId\" FROM {events} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"ConsumedAt\" IS NOT NULL ORDER BY \"Id\" DESC LIMIT 1;",
            ConsumeEvent =
                $"UPDATE {events} SET \"ConsumedAt\" = @Now, \"ConsumedByExecutionId\" = @ExecutionId WHERE \"Id\" = @Id AND \"ConsumedAt\" IS NULL;",
            SelectEventsOfWorkflow = $"SELECT \"Id\", \"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\", \"ConsumedByExecutionId\" FROM {events} WHERE \"WorkflowId\" = @WorkflowId ORDER BY \"Id\";",
            DeleteEventsOfWorkflows = $"DELETE FROM {events} WHERE \"WorkflowId\" IN @Ids;",
            SelectOngoingWorkflowId =
                $"SELECT \"Id\" FROM {workflows} WHERE \"Type\" = @Type AND \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId " +
                "AND \"State\" IN ('ready', 'performing', 'paused') AND \"AllowMultiple\" = 0 LIMIT 1;",
            SelectReattemptMetadataSinceLastSuccess =
                $"SELECT \"Metadata\" FROM {executions} WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName " +
                "AND \"Outcome\" = 'reattempted' AND \"Id\" > COALESCE((SELECT MAX(\"Id\") FROM " + executions +
                " WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName AND \"Outcome\" IN ('success', 'skipped')), 0);",
            SelectWorkflowsPage = StorageStatements.ForEachFilterShape(
                $"SELECT {WorkflowColumns} FROM {workflows}{{where}} ORDER BY \"Id\" DESC LIMIT @Limit OFFSET @Offset;", "\"State\" = @State", "\"Type\" = @Type"),
            CountWorkflows = StorageStatements.ForEachFilterShape($"SELECT COUNT(*) FROM {workflows}{{where}};", "\"State\" = @State", "\"Type\" = @Type"),
            SelectWorkflowsByHero =
                $"SELECT {WorkflowColumns} FROM {workflows} WHERE \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId ORDER BY \"Id\";",
            SelectStepExecutionHistory =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"WorkflowId\" = @WorkflowId ORDER BY \"CreatedAt\", \"Id\";",
            CountWorkflowsByState = $"SELECT \"State\", COUNT(*) AS \"Count\" FROM {workflows} GROUP BY \"State\";",
            SelectDueScheduledStepExecutions =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"State\" = 'scheduled' AND \"ScheduledFor\" <= @Cutoff " +
                $"AND \"WorkflowId\" IN (SELECT \"Id\" FROM {workflows} WHERE \"State\" = 'ready') ORDER BY \"ScheduledFor\", \"Id\" LIMIT @Limit;",
            SelectExpiredLeases =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"State\" = 'in_progress' AND \"LeaseExpiresAt\" < @Now " +
                "ORDER BY \"LeaseExpiresAt\", \"Id\" LIMIT @Limit;",
            // BEGIN IMMEDIATE already holds the database's write lock: the rows cannot change under the batch.
            LockEndedWorkflowIds =
                $"SELECT \"Id\" FROM {workflows} WHERE \"State\" IN ('finished', 'canceled') AND \"TransitionedAt\" < @Cutoff " +
                "ORDER BY \"Id\" LIMIT @Limit;",
            DeleteStepExecutionsOfWorkflows =
                $"DELETE FROM {executions} WHERE \"Id\" IN (SELECT \"Id\" FROM {executions} WHERE \"WorkflowId\" IN @Ids LIMIT @Limit);",
            DeleteWorkflows = $"DELETE FROM {workflows} WHERE \"Id\" IN @Ids;",
        };
    }
}
