using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using Microsoft.Data.SqlClient;

namespace GenevaDrive.SqlServer;

/// <summary>
/// SQL Server: every T-SQL statement of the SQL Server storage. Rows are locked with
/// <c>WITH (UPDLOCK, ROWLOCK)</c>, held to the end of the transaction; identities come back through
/// <c>OUTPUT INSERTED</c>. Requires SQL Server 2016 or later (<c>STRING_SPLIT</c>).
/// </summary>
internal sealed class SqlServerDialect : SqlDialect
{
    private const string WorkflowColumns =
        "[Id], [Type], [HeroType], [HeroId], [State], [CurrentStepName], [NextStepName], [AllowMultiple], [PausedByJobId], " +
        "[CreatedAt], [UpdatedAt], [StartedAt], [TransitionedAt]";

    private const string ExecutionColumns =
        "[Id], [WorkflowId], [StepName], [State], [Outcome], [ScheduledFor], [StartedAt], [CompletedAt], " +
        "[FailedAt], [CanceledAt], [SkippedAt], [FinishedAt], [ErrorClassName], [ErrorMessage], [ErrorBacktrace], " +
        "[JobId], [DispatchedAt], [LeaseToken], [HeartbeatAt], [LeaseExpiresAt], [Metadata], [CreatedAt], [UpdatedAt]";

    private readonly string _connectionString;
    private readonly string _schema;

    public SqlServerDialect(string connectionString, SqlServerWorkflowStorageOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _connectionString = connectionString;
        _schema = SqlIdentifier.ValidateSchemaName(options.SchemaName, nameof(options.SchemaName));
        PrepareSchemaIfNecessary = options.PrepareSchemaIfNecessary;
        Sql = BuildStatements(_schema);
    }

    public override string Name => "SQL Server";

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    public string SchemaName => _schema;

    public override DbConnection CreateConnection() => new SqlConnection(_connectionString);

    public override bool IsUniqueViolation(Exception exception) =>
        exception is SqlException { Number: 2601 or 2627 };

    /// <summary>
    /// Deadlock victim, lock timeout, command timeout, connection broken or refused, database failover and
    /// Azure SQL's throttling and reconfiguration errors.
    /// </summary>
    internal static readonly HashSet<int> TransientErrorNumbers =
        [1205, 1222, -2, 233, 64, 10053, 10054, 10060, 4060, 40197, 40501, 40613, 49918, 49919, 49920];

    protected override bool IsTransientFault(Exception exception) => exception switch
    {
        SqlException sql => sql.Errors.Cast<SqlError>().Any(e => TransientErrorNumbers.Contains(e.Number)) || TransientErrorNumbers.Contains(sql.Number),
        System.IO.IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => false,
    };

    internal static string[] Preamble(string schema) =>
    [
        $"IF SCHEMA_ID(N'{schema}') IS NULL EXEC (N'CREATE SCHEMA [{schema}]');",
        $"IF OBJECT_ID(N'[{schema}].[SchemaVersion]', N'U') IS NULL CREATE TABLE [{schema}].[SchemaVersion] ([Id] int NOT NULL CONSTRAINT [PK_{schema}_SchemaVersion] PRIMARY KEY, [Version] int NOT NULL);",
    ];

    internal static string RecordVersion(string schema, string version) =>
        $"UPDATE [{schema}].[SchemaVersion] SET [Version] = {version} WHERE [Id] = 1; " +
        $"IF @@ROWCOUNT = 0 INSERT INTO [{schema}].[SchemaVersion] ([Id], [Version]) VALUES (1, {version});";

    internal const string AcquireInstallLock =
        "EXEC sp_getapplock @Resource = N'GenevaDrive:Install', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = 60000;";

    internal static string SelectVersion(string schema) => $"SELECT [Version] FROM [{schema}].[SchemaVersion] WHERE [Id] = 1;";

    internal static SchemaScript LoadScript(string schema) =>
        SchemaScript.Load(typeof(SqlServerDialect).Assembly, "GenevaDrive.SqlServer.Install.sql",
            new Dictionary<string, string> { ["{S}"] = schema });

    public override Task InstallSchemaAsync(CancellationToken ct) => InstallSchemaAsync(null, ct);

    /// <summary>Installs migrations up to <paramref name="upToVersion"/> (all when null); used by upgrade tests.</summary>
    internal async Task InstallSchemaAsync(int? upToVersion, CancellationToken ct)
    {
        var script = LoadScript(_schema);
        await using var connection = new SqlConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = (SqlTransaction)await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await connection.ExecuteAsync(AcquireInstallLock, transaction: tx).ConfigureAwait(false);
        foreach (var statement in Preamble(_schema))
        {
            await connection.ExecuteAsync(statement, transaction: tx).ConfigureAwait(false);
        }

        var current = await connection.ExecuteScalarAsync<int?>(SelectVersion(_schema), transaction: tx).ConfigureAwait(false) ?? 0;
        await script.ApplyAsync(connection, tx, current, upToVersion, RecordVersion(_schema, "@version")).ConfigureAwait(false);

        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The schema version recorded in the database (0 when not installed).</summary>
    internal async Task<int> GetSchemaVersionAsync()
    {
        await using var connection = new SqlConnection(_connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<int?>(
            $"IF OBJECT_ID(N'[{_schema}].[SchemaVersion]', N'U') IS NOT NULL {SelectVersion(_schema)}").ConfigureAwait(false) ?? 0;
    }

    internal static StorageStatements BuildStatements(string s)
    {
        var workflows = $"[{s}].[Workflows]";
        var executions = $"[{s}].[StepExecutions]";
        return new StorageStatements
        {
            InsertWorkflow =
                $"INSERT INTO {workflows} ([Type], [HeroType], [HeroId], [State], [CurrentStepName], [NextStepName], [AllowMultiple], [PausedByJobId], " +
                "[CreatedAt], [UpdatedAt], [StartedAt], [TransitionedAt]) OUTPUT INSERTED.[Id] VALUES (@Type, @HeroType, @HeroId, @State, " +
                "@CurrentStepName, @NextStepName, @AllowMultiple, @PausedByJobId, @CreatedAt, @UpdatedAt, @StartedAt, @TransitionedAt);",
            InsertStepExecution =
                $"INSERT INTO {executions} ([WorkflowId], [StepName], [State], [Outcome], [ScheduledFor], [StartedAt], [JobId], [DispatchedAt], " +
                "[LeaseToken], [HeartbeatAt], [LeaseExpiresAt], [Metadata], [CreatedAt], [UpdatedAt]) OUTPUT INSERTED.[Id] VALUES (@WorkflowId, " +
                "@StepName, @State, @Outcome, @ScheduledFor, @StartedAt, @JobId, @DispatchedAt, @LeaseToken, @HeartbeatAt, @LeaseExpiresAt, @Metadata, " +
                "@CreatedAt, @UpdatedAt);",
            SelectWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WHERE [Id] = @Id;",
            LockWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WITH (UPDLOCK, ROWLOCK) WHERE [Id] = @Id;",
            SelectStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE [Id] = @Id;",
            LockStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WITH (UPDLOCK, ROWLOCK) WHERE [Id] = @Id;",
            LockActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WITH (UPDLOCK, ROWLOCK) WHERE [WorkflowId] = @WorkflowId AND [State] IN ('scheduled', 'in_progress');",
            SelectActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE [WorkflowId] = @WorkflowId AND [State] IN ('scheduled', 'in_progress');",
            UpdateWorkflow =
                $"UPDATE {workflows} SET [State] = @State, [CurrentStepName] = @CurrentStepName, [NextStepName] = @NextStepName, [PausedByJobId] = @PausedByJobId, " +
                "[StartedAt] = @StartedAt, [TransitionedAt] = @TransitionedAt, [UpdatedAt] = @UpdatedAt WHERE [Id] = @Id;",
            UpdateStepExecution =
                $"UPDATE {executions} SET [State] = @State, [Outcome] = @Outcome, [ScheduledFor] = @ScheduledFor, [StartedAt] = @StartedAt, " +
                "[CompletedAt] = @CompletedAt, [FailedAt] = @FailedAt, [CanceledAt] = @CanceledAt, [SkippedAt] = @SkippedAt, " +
                "[FinishedAt] = @FinishedAt, [ErrorClassName] = @ErrorClassName, [ErrorMessage] = @ErrorMessage, " +
                "[ErrorBacktrace] = @ErrorBacktrace, [JobId] = @JobId, [DispatchedAt] = @DispatchedAt, [LeaseToken] = @LeaseToken, [HeartbeatAt] = @HeartbeatAt, " +
                "[LeaseExpiresAt] = @LeaseExpiresAt, [Metadata] = @Metadata, [UpdatedAt] = @UpdatedAt WHERE [Id] = @Id;",
            SetStepExecutionJobId =
                $"UPDATE {executions} SET [JobId] = @JobId, [DispatchedAt] = @Now, [UpdatedAt] = @Now WHERE [Id] = @Id AND [State] = 'scheduled';",
            Heartbeat =
                $"UPDATE {executions} SET [HeartbeatAt] = @Now, [LeaseExpiresAt] = @LeaseExpiresAt, [UpdatedAt] = @Now " +
                "WHERE [Id] = @Id AND [State] = 'in_progress' AND [LeaseToken] = @LeaseToken;",
            SelectLatestStepExecutionId = $"SELECT MAX([Id]) FROM {executions} WHERE [WorkflowId] = @WorkflowId;",
            SelectOngoingWorkflowId =
                $"SELECT TOP (1) [Id] FROM {workflows} WHERE [Type] = @Type AND [HeroType] = @HeroType AND [HeroId] = @HeroId " +
                "AND [State] IN ('ready', 'performing', 'paused') AND [AllowMultiple] = 0;",
            SelectReattemptMetadataSinceLastSuccess =
                $"SELECT [Metadata] FROM {executions} WHERE [WorkflowId] = @WorkflowId AND [StepName] = @StepName " +
                "AND [Outcome] = 'reattempted' AND [Id] > COALESCE((SELECT MAX([Id]) FROM " + executions +
                " WHERE [WorkflowId] = @WorkflowId AND [StepName] = @StepName AND [Outcome] IN ('success', 'skipped')), 0);",
            SelectWorkflowsPage =
                $"SELECT {WorkflowColumns} FROM {workflows} WHERE (@State IS NULL OR [State] = @State) AND (@Type IS NULL OR [Type] = @Type) " +
                "ORDER BY [Id] DESC OFFSET @Offset ROWS FETCH NEXT @Limit ROWS ONLY;",
            CountWorkflows =
                $"SELECT COUNT_BIG(*) FROM {workflows} WHERE (@State IS NULL OR [State] = @State) AND (@Type IS NULL OR [Type] = @Type);",
            SelectWorkflowsByHero =
                $"SELECT {WorkflowColumns} FROM {workflows} WHERE [HeroType] = @HeroType AND [HeroId] = @HeroId ORDER BY [Id];",
            SelectStepExecutionHistory =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE [WorkflowId] = @WorkflowId ORDER BY [CreatedAt], [Id];",
            CountWorkflowsByState = $"SELECT [State], COUNT_BIG(*) AS [Count] FROM {workflows} GROUP BY [State];",
            SelectDueScheduledStepExecutions =
                $"SELECT TOP (@Limit) {ExecutionColumns} FROM {executions} WHERE [State] = 'scheduled' AND [ScheduledFor] <= @Cutoff " +
                $"AND [WorkflowId] IN (SELECT [Id] FROM {workflows} WHERE [State] = 'ready') ORDER BY [ScheduledFor], [Id];",
            SelectExpiredLeases =
                $"SELECT TOP (@Limit) {ExecutionColumns} FROM {executions} WHERE [State] = 'in_progress' AND [LeaseExpiresAt] < @Now " +
                "ORDER BY [LeaseExpiresAt], [Id];",
            SelectEndedWorkflowIds =
                $"SELECT TOP (@Limit) [Id] FROM {workflows} WHERE [State] IN ('finished', 'canceled') AND [TransitionedAt] < @Cutoff ORDER BY [Id];",
            DeleteStepExecutionsOfWorkflows =
                $"DELETE FROM {executions} WHERE [WorkflowId] IN (SELECT CAST([value] AS bigint) FROM STRING_SPLIT(@IdList, ','));",
            DeleteWorkflows =
                $"DELETE FROM {workflows} WHERE [Id] IN (SELECT CAST([value] AS bigint) FROM STRING_SPLIT(@IdList, ','));",
        };
    }
}
