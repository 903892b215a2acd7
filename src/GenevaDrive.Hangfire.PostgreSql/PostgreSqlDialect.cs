using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using Npgsql;

namespace GenevaDrive.PostgreSql;

/// <summary>
/// PostgreSQL: every SQL statement of the PostgreSQL storage. Rows are locked with
/// <c>SELECT … FOR UPDATE</c>; identifiers are quoted PascalCase inside a validated schema.
/// </summary>
internal sealed class PostgreSqlDialect : SqlDialect
{
    /// <summary>The advisory lock key that serializes installers ("GenevaDr" in ASCII).</summary>
    private const long InstallLockKey = 0x47656E6576614472;

    private const string WorkflowColumns =
        "\"Id\", \"Type\", \"HeroType\", \"HeroId\", \"State\", \"CurrentStepName\", \"NextStepName\", \"AllowMultiple\", \"PausedByJobId\", \"StateReason\", " +
        "\"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\", \"TraceParent\"";

    private const string ExecutionColumns =
        "\"Id\", \"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"CompletedAt\", " +
        "\"FailedAt\", \"CanceledAt\", \"SkippedAt\", \"FinishedAt\", \"ErrorClassName\", \"ErrorMessage\", \"ErrorBacktrace\", " +
        "\"JobId\", \"DispatchedAt\", \"LeaseToken\", \"HeartbeatAt\", \"LeaseExpiresAt\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", " +
        "\"Attempt\", \"Cursor\", \"Checkpoints\", \"WaitingFor\", \"WaitUntil\"";

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;

    public PostgreSqlDialect(string connectionString, PostgreSqlWorkflowStorageOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _schema = SqlIdentifier.ValidateSchemaName(options.SchemaName, nameof(options.SchemaName));
        PrepareSchemaIfNecessary = options.PrepareSchemaIfNecessary;
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        // GenevaDrive's own short transactions never join a caller's ambient TransactionScope.
        // GenevaDrive changes no session state, so a pooled connection needs no DISCARD ALL round trip on return.
        _dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Enlist = false, NoResetOnClose = true }.ConnectionString);
        Sql = BuildStatements(_schema);
    }

    public override string Name => "PostgreSQL";

    public override int? CommandTimeoutSeconds { get; }

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    public string SchemaName => _schema;

    public override DbConnection CreateConnection() => _dataSource.CreateConnection();

    public override void Dispose() => _dataSource.Dispose();

    public override bool IsUniqueViolation(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    protected override bool IsTransientFault(Exception exception) => exception switch
    {
        // Serialization failure, deadlock, lock not available, admin/crash shutdown, cannot connect now, any connection exception.
        PostgresException pg => pg.SqlState is "40001" or "40P01" or "55P03" or "57P01" or "57P02" or "57P03" || pg.SqlState.StartsWith("08", StringComparison.Ordinal),
        // Client-side: failed to connect, stream read/write failures, a connection broken mid-command.
        NpgsqlException => true,
        System.IO.IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => false,
    };

    // One array parameter carries the ids, so the batch is not bounded by a parameter limit.
    public override int MaxBatchSize => 50_000;

    internal static string[] Preamble(string schema) =>
    [
        $"CREATE SCHEMA IF NOT EXISTS \"{schema}\";",
        $"CREATE TABLE IF NOT EXISTS \"{schema}\".\"SchemaVersion\" (\"Id\" integer NOT NULL PRIMARY KEY, \"Version\" integer NOT NULL);",
    ];

    internal static string RecordVersion(string schema, string version) =>
        $"INSERT INTO \"{schema}\".\"SchemaVersion\" (\"Id\", \"Version\") VALUES (1, {version}) " +
        "ON CONFLICT (\"Id\") DO UPDATE SET \"Version\" = EXCLUDED.\"Version\";";

    internal static SchemaScript LoadScript(string schema) =>
        SchemaScript.Load(typeof(PostgreSqlDialect).Assembly, "GenevaDrive.PostgreSql.Install.sql",
            new Dictionary<string, string> { ["{S}"] = schema });

    public override Task InstallSchemaAsync(CancellationToken ct) => InstallSchemaAsync(null, ct);

    /// <summary>Installs migrations up to <paramref name="upToVersion"/> (all when null); used by upgrade tests.</summary>
    internal async Task InstallSchemaAsync(int? upToVersion, CancellationToken ct)
    {
        var script = LoadScript(_schema);
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@key);", new { key = InstallLockKey }, tx).ConfigureAwait(false);
        foreach (var statement in Preamble(_schema))
        {
            await connection.ExecuteAsync(statement, transaction: tx).ConfigureAwait(false);
        }

        var current = await connection.ExecuteScalarAsync<int?>(
            $"SELECT \"Version\" FROM \"{_schema}\".\"SchemaVersion\" WHERE \"Id\" = 1;", transaction: tx).ConfigureAwait(false) ?? 0;
        await script.ApplyAsync(connection, tx, current, upToVersion, RecordVersion(_schema, "@version")).ConfigureAwait(false);

        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The schema version recorded in the database (0 when not installed).</summary>
    internal async Task<int> GetSchemaVersionAsync()
    {
        await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        var table = await connection.ExecuteScalarAsync<string?>("SELECT to_regclass(@name)::text;",
            new { name = $"\"{_schema}\".\"SchemaVersion\"" }).ConfigureAwait(false);
        return table is null
            ? 0
            : await connection.ExecuteScalarAsync<int>($"SELECT \"Version\" FROM \"{_schema}\".\"SchemaVersion\" WHERE \"Id\" = 1;")
                .ConfigureAwait(false);
    }

    private static StorageStatements BuildStatements(string s)
    {
        var workflows = $"\"{s}\".\"Workflows\"";
        var executions = $"\"{s}\".\"StepExecutions\"";
        var events = $"\"{s}\".\"WorkflowEvents\"";
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
            LockWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WHERE \"Id\" = @Id FOR UPDATE;",
            SelectStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE \"Id\" = @Id;",
            LockStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE \"Id\" = @Id FOR UPDATE;",
            LockActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE \"WorkflowId\" = @WorkflowId AND \"State\" IN ('scheduled', 'in_progress') FOR UPDATE;",
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
            DeleteEventsOfWorkflows = $"DELETE FROM {events} WHERE \"WorkflowId\" = ANY(@Ids);",
            SelectOngoingWorkflowId =
                $"SELECT \"Id\" FROM {workflows} WHERE \"Type\" = @Type AND \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId " +
                "AND \"State\" IN ('ready', 'performing', 'paused') AND NOT \"AllowMultiple\" LIMIT 1;",
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
            LockEndedWorkflowIds =
                $"SELECT \"Id\" FROM {workflows} WHERE \"State\" IN ('finished', 'canceled') AND \"TransitionedAt\" < @Cutoff " +
                "ORDER BY \"Id\" LIMIT @Limit FOR UPDATE SKIP LOCKED;",
            DeleteStepExecutionsOfWorkflows =
                $"DELETE FROM {executions} WHERE \"Id\" IN (SELECT \"Id\" FROM {executions} WHERE \"WorkflowId\" = ANY(@Ids) LIMIT @Limit);",
            DeleteWorkflows = $"DELETE FROM {workflows} WHERE \"Id\" = ANY(@Ids);",
        };
    }
}
