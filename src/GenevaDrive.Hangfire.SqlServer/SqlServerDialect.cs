using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using Microsoft.Data.SqlClient;

namespace GenevaDrive.SqlServer;

/// <summary>
/// SQL Server: every T-SQL statement of the SQL Server storage. Rows are locked with
/// <c>WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK)</c> (the latest committed row even under
/// <c>READ_COMMITTED_SNAPSHOT</c>), held to the end of the transaction; identities come back through
/// <c>SCOPE_IDENTITY()</c> (a bare <c>OUTPUT</c> clause fails once a table has a trigger). Uses no
/// compatibility-level-dependent built-ins; parameters are typed by <see cref="Bind"/>.
/// </summary>
internal sealed class SqlServerDialect : SqlDialect
{
    private const string WorkflowColumns =
        "[Id], [Type], [HeroType], [HeroId], [State], [CurrentStepName], [NextStepName], [AllowMultiple], [PausedByJobId], [StateReason], " +
        "[CreatedAt], [UpdatedAt], [StartedAt], [TransitionedAt], [TraceParent]";

    private const string ExecutionColumns =
        "[Id], [WorkflowId], [StepName], [State], [Outcome], [ScheduledFor], [StartedAt], [CompletedAt], " +
        "[FailedAt], [CanceledAt], [SkippedAt], [FinishedAt], [ErrorClassName], [ErrorMessage], [ErrorBacktrace], " +
        "[JobId], [DispatchedAt], [LeaseToken], [HeartbeatAt], [LeaseExpiresAt], [Metadata], [CreatedAt], [UpdatedAt], " +
        "[Attempt], [Cursor], [Checkpoints], [WaitingFor], [WaitUntil]";

    private readonly string _connectionString;
    private readonly string _schema;

    public SqlServerDialect(string connectionString, SqlServerWorkflowStorageOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        // GenevaDrive's own short transactions never join a caller's ambient TransactionScope: they commit on
        // their own, like Hangfire's. (Starting inside the caller's transaction is the explicit overload.)
        _connectionString = new SqlConnectionStringBuilder(connectionString) { Enlist = false }.ConnectionString;
        _schema = SqlIdentifier.ValidateSchemaName(options.SchemaName, nameof(options.SchemaName));
        PrepareSchemaIfNecessary = options.PrepareSchemaIfNecessary;
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        Sql = BuildStatements(_schema);
    }

    public override int? CommandTimeoutSeconds { get; }

    /// <summary>Codes stored as <c>varchar</c>: sent as <c>AnsiString</c> of the column's size, so comparisons use the index.</summary>
    private static readonly Dictionary<string, int> AnsiColumns = new(StringComparer.Ordinal)
    {
        ["State"] = 20, ["Outcome"] = 20, ["LeaseToken"] = 64, ["TraceParent"] = 100,
    };

    /// <summary>Text stored as <c>nvarchar(n)</c>: sent with the column's size (one plan for every length); the rest as <c>nvarchar(max)</c>.</summary>
    private static readonly Dictionary<string, int> UnicodeColumns = new(StringComparer.Ordinal)
    {
        ["Type"] = 200, ["HeroType"] = 200, ["HeroId"] = 200, ["CurrentStepName"] = 200, ["NextStepName"] = 200, ["StepName"] = 200,
        ["ErrorClassName"] = 400, ["JobId"] = 100, ["PausedByJobId"] = 100, ["StateReason"] = 1000,
        ["Name"] = 200, ["EventKey"] = 200, ["WaitingFor"] = 200,
    };

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, System.Reflection.PropertyInfo[]> BindableProperties = new();

    /// <summary>
    /// Types every parameter explicitly: <c>datetime2</c> for times (Dapper would send <c>datetime</c>, rounded
    /// to 3.33 ms), <c>varchar(n)</c> for codes and <c>nvarchar(n)</c> for names. Arrays stay untyped so Dapper
    /// expands them into one parameter per item (<c>IN @Ids</c>).
    /// </summary>
    public override object Bind(object parameters) => parameters is TypedParameters ? parameters : Type(parameters);

    internal static TypedParameters Type(object parameters)
    {
        var bound = new TypedParameters { RemoveUnused = true };
        foreach (var property in BindableProperties.GetOrAdd(parameters.GetType(), static t => t
                     .GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
                     .Where(p => p.CanRead && p.GetIndexParameters().Length == 0 && IsBindable(p.PropertyType)).ToArray()))
        {
            var value = property.GetValue(parameters);
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (type == typeof(DateTime))
            {
                bound.Declare(property.Name, value, System.Data.DbType.DateTime2, null);
            }
            else if (type == typeof(string) && AnsiColumns.TryGetValue(property.Name, out var ansi))
            {
                bound.Declare(property.Name, value, System.Data.DbType.AnsiString, ansi);
            }
            else if (type == typeof(string))
            {
                bound.Declare(property.Name, value, System.Data.DbType.String, UnicodeColumns.TryGetValue(property.Name, out var size) ? size : -1);
            }
            else
            {
                bound.Declare(property.Name, value, null, null);
            }
        }

        return bound;
    }

    private static bool IsBindable(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t == typeof(string) || t == typeof(DateTime) || t == typeof(decimal) || t == typeof(Guid) ||
               (t.IsArray && t != typeof(byte[]));
    }

    /// <summary>Dapper parameters that also remember how each was declared (tests inspect them without a server).</summary>
    internal sealed class TypedParameters : DynamicParameters
    {
        private readonly List<(string Name, System.Data.DbType? Type, int? Size)> _declared = [];

        public IReadOnlyList<(string Name, System.Data.DbType? Type, int? Size)> Declared => _declared;

        public void Declare(string name, object? value, System.Data.DbType? type, int? size)
        {
            _declared.Add((name, type, size));
            Add(name, value, type, size: size);
        }
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

    /// <summary>
    /// Takes the install lock of this schema, and fails the batch if it was not granted (timeout, deadlock
    /// victim): an installer never carries on without the lock.
    /// </summary>
    internal static string AcquireInstallLock(string schema) =>
        "DECLARE @lock int; " +
        $"EXEC @lock = sp_getapplock @Resource = N'GenevaDrive:Install:{schema}', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = 60000; " +
        $"IF @lock < 0 BEGIN DECLARE @message nvarchar(400) = N'GenevaDrive could not take the install lock of schema [{schema}] (sp_getapplock returned ' + " +
        "CAST(@lock AS nvarchar(11)) + N'); another installer holds it or this one was chosen as a deadlock victim. Run the installer again.'; " +
        "THROW 50001, @message, 1; END;";

    /// <summary>
    /// The session settings every batch of the DBA script needs: filtered indexes require these SET options
    /// (sqlcmd starts with QUOTED_IDENTIFIER OFF), and XACT_ABORT makes any error roll the whole script back.
    /// </summary>
    internal static readonly string[] ScriptSessionOptions =
    [
        "SET ANSI_NULLS ON; SET ANSI_PADDING ON; SET ANSI_WARNINGS ON; SET ARITHABORT ON; SET CONCAT_NULL_YIELDS_NULL ON; " +
        "SET QUOTED_IDENTIFIER ON; SET NUMERIC_ROUNDABORT OFF; SET XACT_ABORT ON;",
    ];

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
        await connection.ExecuteAsync(AcquireInstallLock(_schema), transaction: tx).ConfigureAwait(false);
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
        var events = $"[{s}].[WorkflowEvents]";
        return new StorageStatements
        {
            InsertWorkflow =
                $"INSERT INTO {workflows} ([Type], [HeroType], [HeroId], [State], [CurrentStepName], [NextStepName], [AllowMultiple], [PausedByJobId], [StateReason], " +
                "[CreatedAt], [UpdatedAt], [StartedAt], [TransitionedAt], [TraceParent]) VALUES (@Type, @HeroType, @HeroId, @State, " +
                "@CurrentStepName, @NextStepName, @AllowMultiple, @PausedByJobId, @StateReason, @CreatedAt, @UpdatedAt, @StartedAt, @TransitionedAt, @TraceParent); " +
                "SELECT CAST(SCOPE_IDENTITY() AS bigint);",
            InsertStepExecution =
                $"INSERT INTO {executions} ([WorkflowId], [StepName], [State], [Outcome], [ScheduledFor], [StartedAt], [JobId], [DispatchedAt], " +
                "[LeaseToken], [HeartbeatAt], [LeaseExpiresAt], [Metadata], [CreatedAt], [UpdatedAt], [Attempt], [Cursor], [WaitingFor], [WaitUntil]) VALUES (@WorkflowId, " +
                "@StepName, @State, @Outcome, @ScheduledFor, @StartedAt, @JobId, @DispatchedAt, @LeaseToken, @HeartbeatAt, @LeaseExpiresAt, @Metadata, " +
                "@CreatedAt, @UpdatedAt, @Attempt, @Cursor, @WaitingFor, @WaitUntil); SELECT CAST(SCOPE_IDENTITY() AS bigint);",
            SelectWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WHERE [Id] = @Id;",
            LockWorkflow = $"SELECT {WorkflowColumns} FROM {workflows} WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK) WHERE [Id] = @Id;",
            SelectStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WHERE [Id] = @Id;",
            LockStepExecution = $"SELECT {ExecutionColumns} FROM {executions} WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK) WHERE [Id] = @Id;",
            LockActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK) WHERE [WorkflowId] = @WorkflowId AND [State] IN ('scheduled', 'in_progress');",
            SelectActiveStepExecution =
                $"SELECT {ExecutionColumns} FROM {executions} WHERE [WorkflowId] = @WorkflowId AND [State] IN ('scheduled', 'in_progress');",
            UpdateWorkflow =
                $"UPDATE {workflows} SET [State] = @State, [CurrentStepName] = @CurrentStepName, [NextStepName] = @NextStepName, [PausedByJobId] = @PausedByJobId, [StateReason] = @StateReason, " +
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
            SelectWorkflowState = $"SELECT [State] FROM {workflows} WHERE [Id] = @Id;",
            SelectLatestStepExecutionId = $"SELECT MAX([Id]) FROM {executions} WHERE [WorkflowId] = @WorkflowId;",
            Checkpoint =
                $"UPDATE {executions} SET [Cursor] = @Cursor, [Checkpoints] = [Checkpoints] + 1, [UpdatedAt] = @Now " +
                "WHERE [Id] = @Id AND [State] = 'in_progress' AND [LeaseToken] = @LeaseToken;",
            SelectLatestStepExecutionOfStep =
                $"SELECT TOP (1) {ExecutionColumns} FROM {executions} WHERE [WorkflowId] = @WorkflowId AND [StepName] = @StepName ORDER BY [Id] DESC;",
            RenameHeroType = $"UPDATE {workflows} SET [HeroType] = @NewName WHERE [HeroType] = @OldName;",
            InsertEvent =
                $"INSERT INTO {events} ([WorkflowId], [Name], [EventKey], [Payload], [TraceParent], [CreatedAt]) " +
                "VALUES (@WorkflowId, @Name, @EventKey, @Payload, @TraceParent, @CreatedAt); SELECT CAST(SCOPE_IDENTITY() AS bigint);",
            SelectEventByKey =
                $"SELECT [Id], [WorkflowId], [Name], [EventKey], [Payload], [TraceParent], [CreatedAt], [ConsumedAt], [ConsumedByExecutionId] FROM {events} WHERE [WorkflowId] = @WorkflowId AND [Name] = @Name AND [EventKey] = @EventKey;",
            SelectUnconsumedEvent =
                $"SELECT TOP (1) [Id], [WorkflowId], [Name], [EventKey], [Payload], [TraceParent], [CreatedAt], [ConsumedAt], [ConsumedByExecutionId] FROM {events} WHERE [WorkflowId] = @WorkflowId AND [Name] = @Name AND [ConsumedAt] IS NULL ORDER BY [Id];",
            SelectLatestConsumedEvent =
                $"SELECT TOP (1) [Id], [WorkflowId], [Name], [EventKey], [Payload], [TraceParent], [CreatedAt], [ConsumedAt], [ConsumedByExecutionId] FROM {events} WHERE [WorkflowId] = @WorkflowId AND [Name] = @Name AND [ConsumedAt] IS NOT NULL ORDER BY [Id] DESC;",
            ConsumeEvent =
                $"UPDATE {events} SET [ConsumedAt] = @Now, [ConsumedByExecutionId] = @ExecutionId WHERE [Id] = @Id AND [ConsumedAt] IS NULL;",
            SelectEventsOfWorkflow = $"SELECT [Id], [WorkflowId], [Name], [EventKey], [Payload], [TraceParent], [CreatedAt], [ConsumedAt], [ConsumedByExecutionId] FROM {events} WHERE [WorkflowId] = @WorkflowId ORDER BY [Id];",
            DeleteEventsOfWorkflows = $"DELETE FROM {events} WHERE [WorkflowId] IN @Ids;",
            SelectOngoingWorkflowId =
                $"SELECT TOP (1) [Id] FROM {workflows} WHERE [Type] = @Type AND [HeroType] = @HeroType AND [HeroId] = @HeroId " +
                "AND [State] IN ('ready', 'performing', 'paused') AND [AllowMultiple] = 0;",
            SelectReattemptMetadataSinceLastSuccess =
                $"SELECT [Metadata] FROM {executions} WHERE [WorkflowId] = @WorkflowId AND [StepName] = @StepName " +
                "AND [Outcome] = 'reattempted' AND [Id] > COALESCE((SELECT MAX([Id]) FROM " + executions +
                " WHERE [WorkflowId] = @WorkflowId AND [StepName] = @StepName AND [Outcome] IN ('success', 'skipped')), 0);",
            SelectWorkflowsPage = StorageStatements.ForEachFilterShape(
                $"SELECT {WorkflowColumns} FROM {workflows}{{where}} ORDER BY [Id] DESC OFFSET @Offset ROWS FETCH NEXT @Limit ROWS ONLY;", "[State] = @State", "[Type] = @Type"),
            CountWorkflows = StorageStatements.ForEachFilterShape($"SELECT COUNT_BIG(*) FROM {workflows}{{where}};", "[State] = @State", "[Type] = @Type"),
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
            // READPAST: a row another transaction holds (a late claim) waits for the next cleanup instead of blocking this one.
            LockEndedWorkflowIds =
                $"SELECT TOP (@Limit) [Id] FROM {workflows} WITH (UPDLOCK, ROWLOCK, READPAST, READCOMMITTEDLOCK) WHERE [State] IN ('finished', 'canceled') AND [TransitionedAt] < @Cutoff ORDER BY [Id];",
            // Dapper expands @Ids into one parameter per id (at most 2,000, under SQL Server's 2,100); no compatibility-level-dependent built-ins.
            DeleteStepExecutionsOfWorkflows =
                $"DELETE TOP (@Limit) FROM {executions} WHERE [WorkflowId] IN @Ids;",
            DeleteWorkflows =
                $"DELETE FROM {workflows} WHERE [Id] IN @Ids;",
            CleanupSessionSetup = "SET DEADLOCK_PRIORITY LOW; SET LOCK_TIMEOUT 10000;",
            CleanupSessionReset = "SET DEADLOCK_PRIORITY NORMAL; SET LOCK_TIMEOUT -1;",
        };
    }
}
