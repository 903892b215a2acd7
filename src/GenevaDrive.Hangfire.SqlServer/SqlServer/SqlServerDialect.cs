using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;
using Microsoft.Data.SqlClient;

namespace GenevaDrive.SqlServer;

/// <summary>
/// SQL Server: every T-SQL statement of the SQL Server storage. Rows are locked with
/// <c>WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK)</c> (the latest committed row even under
/// <c>READ_COMMITTED_SNAPSHOT</c>), held to the end of the transaction; identities come back through
/// <c>SCOPE_IDENTITY()</c> (a bare <c>OUTPUT</c> clause fails once a table has a trigger). Uses no
/// compatibility-level-dependent built-ins; parameters are typed by kind in <see cref="TypeOf"/>.
/// </summary>
internal sealed partial class SqlServerDialect : SqlDialect
{


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
        _skipHeavyMigrations = options.SkipHeavyMigrations;
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        Sql = BuildStatements(_schema);
    }

    public override int? CommandTimeoutSeconds { get; }

    /// <summary>
    /// Types each parameter by its kind: <c>datetime2</c> for times (Dapper would send <c>datetime</c>, rounded to 3.33 ms),
    /// <c>varchar(n)</c> for codes and <c>nvarchar(n)</c> for text, of the column's size (one plan for every length, and
    /// comparisons that use the index). Lists of ids stay untyped, so Dapper expands them into one parameter per item
    /// (<c>IN @Ids</c>); numbers and flags are typed from their values.
    /// </summary>
    public override System.Data.DbType? TypeOf(SqlParameterShape parameter) => parameter.Kind switch
    {
        SqlValueKind.Time => System.Data.DbType.DateTime2,
        SqlValueKind.Code => System.Data.DbType.AnsiString,
        SqlValueKind.Text => System.Data.DbType.String,
        _ => null,
    };

    public override int ContractVersion => StorageContract.Version;

    public override string Name => "SQL Server";

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    private readonly bool _skipHeavyMigrations;

    public string SchemaName => _schema;

    public override DbConnection CreateConnection() => new SqlConnection(_connectionString);

    public override int? MaxPoolSize
    {
        get
        {
            var builder = new SqlConnectionStringBuilder(_connectionString);
            return builder.Pooling ? builder.MaxPoolSize : null;
        }
    }

    public override bool IsUniqueViolation(Exception exception) =>
        exception is SqlException { Number: 2601 or 2627 };

    /// <summary>
    /// Deadlock victim, lock timeout, command timeout, connection broken or refused, database failover and
    /// Azure SQL's throttling and reconfiguration errors.
    /// </summary>
    /// <remarks>
    /// 1205 deadlock victim, 1222 lock request timeout, 1204 lock resources exhausted, -2 command timeout, 233/64/121/10053/
    /// 10054/10060 connection broken or refused (121: semaphore timeout on the network), 4060 database unavailable, 4221
    /// login timed out waiting for an availability-group replica, 976/978/983 an availability-group database not
    /// accessible in its current role (a failover in progress), 40143/40197/40501/40540/40613/49918/49919/49920 Azure SQL
    /// reconfiguration, service errors and throttling, 10928/10929 Azure SQL resource limits.
    /// </remarks>
    internal static readonly HashSet<int> TransientErrorNumbers =
        [1205, 1222, 1204, -2, 233, 64, 121, 10053, 10054, 10060, 4060, 4221, 976, 978, 983, 40143, 40197, 40501, 40540, 40613, 49918, 49919, 49920,
         10928, 10929];

    protected override bool IsTransientFault(Exception exception) => exception switch
    {
        SqlException sql => sql.Errors.Cast<SqlError>().Any(e => TransientErrorNumbers.Contains(e.Number)) || TransientErrorNumbers.Contains(sql.Number),
        System.IO.IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        // The pool had no free connection within the connect timeout (every connection busy): waiting and trying again helps.
        InvalidOperationException pool when pool.Message.Contains("obtaining a connection from the pool", StringComparison.Ordinal) => true,
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
    /// <param name="schema">The schema.</param>
    /// <param name="owner">
    /// <c>Transaction</c> (the DBA script: the lock ends with its transaction) or <c>Session</c> (the installer: the lock spans
    /// its migrations' transactions and the online index builds between them).
    /// </param>
    internal static string AcquireInstallLock(string schema, string owner = "Transaction") =>
        "DECLARE @lock int; " +
        $"EXEC @lock = sp_getapplock @Resource = N'GenevaDrive:Install:{schema}', @LockMode = N'Exclusive', @LockOwner = N'{owner}', @LockTimeout = 60000; " +
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

    internal static SchemaScript LoadScript(string schema)
    {
        using var stream = typeof(SqlServerDialect).Assembly.GetManifestResourceStream("GenevaDrive.SqlServer.Install.sql")
            ?? throw new InvalidOperationException("The install script resource 'GenevaDrive.SqlServer.Install.sql' is missing from GenevaDrive.Hangfire.SqlServer.");
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        var text = OnlineIndexLine().Replace(reader.ReadToEnd(),
            line => OnlineIndexBuild(line.Groups["table"].Value, line.Groups["name"].Value, line.Groups["columns"].Value,
                line.Groups["unique"].Success, line.Groups["where"].Success ? line.Groups["where"].Value : null));
        return SchemaScript.Parse(text.Replace("{S}", schema, StringComparison.Ordinal));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\{online (?<unique>unique )?index (?<name>\w+) ON (?<table>\w+) \((?<columns>[^)]+)\)(?: WHERE (?<where>[^}]+))?\}$",
        System.Text.RegularExpressions.RegexOptions.Multiline)]
    private static partial System.Text.RegularExpressions.Regex OnlineIndexLine();

    /// <summary>
    /// The build of an index on a table that may already hold many rows: online where the edition can (Enterprise,
    /// Developer, Azure SQL), also resumable where the version can (2019+, Azure SQL) and no transaction is open (the
    /// installer runs it after its migration's transaction: see <see cref="IsOnlineIndexBuild"/>), offline elsewhere. A
    /// resumable build that stopped half-way (a failover, a restart) is resumed, not begun again; a built index is left
    /// alone. The build is dynamic SQL, so a server whose parser lacks these options never compiles them.
    /// </summary>
    internal static string OnlineIndexBuild(string table, string name, string columns, bool unique = false, string? where = null) =>
        $"""
        DECLARE @edition int = CAST(SERVERPROPERTY('EngineEdition') AS int);
        DECLARE @major int = CAST(PARSENAME(CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), 4) AS int);
        DECLARE @resumable bit = CASE WHEN @edition IN (3, 5, 8) AND @@TRANCOUNT = 0 AND (@major >= 15 OR @edition IN (5, 8)) THEN 1 ELSE 0 END;
        DECLARE @paused bit = 0;
        IF @resumable = 1
            EXEC sp_executesql N'SELECT @found = 1 FROM sys.index_resumable_operations WHERE object_id = OBJECT_ID(N''[{"{S}"}].[{table}]'') AND name = N''{name}'';',
                N'@found bit OUTPUT', @found = @paused OUTPUT;
        IF @paused = 1
            EXEC (N'ALTER INDEX [{name}] ON [{"{S}"}].[{table}] RESUME;');
        ELSE IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{name}' AND object_id = OBJECT_ID(N'[{"{S}"}].[{table}]'))
        BEGIN
            DECLARE @build nvarchar(1000) = N'CREATE {(unique ? "UNIQUE " : "")}NONCLUSTERED INDEX [{name}] ON [{"{S}"}].[{table}] ({columns}){(where is null ? "" : " WHERE " + where)}' + CASE
                WHEN @resumable = 1 THEN N' WITH (ONLINE = ON, RESUMABLE = ON);'
                WHEN @edition IN (3, 5, 8) THEN N' WITH (ONLINE = ON);'
                ELSE N';' END;
            EXEC (@build);
        END
        """;

    public override Task InstallSchemaAsync(CancellationToken ct) => InstallSchemaAsync(null, ct);

    /// <summary>Installs migrations up to <paramref name="upToVersion"/> (all when null); used by upgrade tests.</summary>
    internal async Task InstallSchemaAsync(int? upToVersion, CancellationToken ct)
    {
        var script = LoadScript(_schema);
        var connection = new SqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            // The install lock is the session's, held across every migration's transaction and the online index builds run
            // between them. The command outlives the lock's own 60 s wait, so a lock not granted ends with the designed
            // message, not a bare timeout.
            await connection.ExecuteAsync(new CommandDefinition(AcquireInstallLock(_schema, "Session"), commandTimeout: 90, cancellationToken: ct))
                .ConfigureAwait(false);
            await script.MigrateAsync(connection, async (c, token) =>
                {
                    var tx = await c.BeginTransactionAsync(token).ConfigureAwait(false);
                    foreach (var statement in Preamble(_schema))
                    {
                        await c.ExecuteAsync(new CommandDefinition(statement, transaction: tx, cancellationToken: token)).ConfigureAwait(false);
                    }

                    return tx;
                },
                SelectVersion(_schema), RecordVersion(_schema, "@version"), upToVersion, InstallLogger, ct, _skipHeavyMigrations,
                IsOnlineIndexBuild, BuildIndexOnlineAsync, IsTransient).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(ReleaseInstallLock(_schema), cancellationToken: CancellationToken.None))
                .ConfigureAwait(false);
        }
        catch
        {
            // A session lock lives as long as the physical connection, which the pool would keep: it is closed for good instead.
            SqlConnection.ClearPool(connection);
            throw;
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Releases the installer's session-owned install lock.</summary>
    internal static string ReleaseInstallLock(string schema) =>
        $"EXEC sp_releaseapplock @Resource = N'GenevaDrive:Install:{schema}', @LockOwner = N'Session';";

    /// <summary>
    /// An index build on a table that already holds rows (marked by its resumable option): it runs after its migration's
    /// transaction, where SQL Server can build it online and resumable, with no command timeout.
    /// </summary>
    internal static bool IsOnlineIndexBuild(string statement) => statement.Contains("RESUMABLE = ON", StringComparison.Ordinal);

    private static Task BuildIndexOnlineAsync(DbConnection connection, string statement, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(statement, commandTimeout: 0, cancellationToken: ct));

    public override int? SchemaVersion => _schemaVersion ??= LoadScript(_schema).LatestVersion;

    private int? _schemaVersion;

    public override async Task<int?> ReadInstalledSchemaVersionAsync(CancellationToken ct) => await GetSchemaVersionAsync().ConfigureAwait(false);

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
        var flavor = new SqlFlavor
        {
            Workflows = $"[{s}].[Workflows]",
            Executions = $"[{s}].[StepExecutions]",
            Events = $"[{s}].[WorkflowEvents]",
            Operations = $"[{s}].[Operations]",
            Now = "SYSUTCDATETIME()",
            BracketQuotes = true,
            // The latest committed row even under READ_COMMITTED_SNAPSHOT, locked to the end of the transaction.
            LockHint = " WITH (UPDLOCK, ROWLOCK, READCOMMITTEDLOCK)",
            // SCOPE_IDENTITY, not a bare OUTPUT clause, which fails once a table has a trigger.
            ReturnsId = "; SELECT CAST(SCOPE_IDENTITY() AS bigint);",
            TopLimits = true,
            NotAllowMultiple = "\"AllowMultiple\" = 0",
            Count = "COUNT_BIG(*)",
            Page = "OFFSET @Offset ROWS FETCH NEXT @Limit ROWS ONLY",
            // Dapper expands @Ids into one parameter per id (at most 2,000, under SQL Server's 2,100); no compatibility-level-dependent built-ins.
            InIds = "IN @Ids",
        };
        return SqlTemplate.Build(flavor, shared => shared with
        {
            // READPAST: a row another transaction holds (a late claim) waits for the next cleanup instead of blocking this one.
            LockEndedWorkflowIds = shared.LockEndedWorkflowIds.WithText(SqlTemplate.Render(flavor,
                "SELECT TOP (@Limit) \"Id\" FROM {W} WITH (UPDLOCK, ROWLOCK, READPAST, READCOMMITTEDLOCK) WHERE \"State\" IN ('finished', 'canceled') AND \"TransitionedAt\" < @Cutoff ORDER BY \"Id\";")),
            DeleteStepExecutionsOfWorkflows = shared.DeleteStepExecutionsOfWorkflows.WithText(SqlTemplate.Render(flavor, "DELETE TOP (@Limit) FROM {E} WHERE \"WorkflowId\" IN @Ids;")),
            CleanupSessionSetup = "SET DEADLOCK_PRIORITY LOW; SET LOCK_TIMEOUT 10000;",
            CleanupSessionReset = "SET DEADLOCK_PRIORITY NORMAL; SET LOCK_TIMEOUT -1;",
        });
    }
}
