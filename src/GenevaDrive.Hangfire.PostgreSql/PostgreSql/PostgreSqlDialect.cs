using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;
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



    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;

    public PostgreSqlDialect(string connectionString, PostgreSqlWorkflowStorageOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _schema = SqlIdentifier.ValidateSchemaName(options.SchemaName, nameof(options.SchemaName));
        PrepareSchemaIfNecessary = options.PrepareSchemaIfNecessary;
        _skipHeavyMigrations = options.SkipHeavyMigrations;
        CommandTimeoutSeconds = options.CommandTimeout is { } timeout ? (int)Math.Ceiling(timeout.TotalSeconds) : null;
        // GenevaDrive's own short transactions never join a caller's ambient TransactionScope.
        // GenevaDrive changes no session state, so a pooled connection needs no DISCARD ALL round trip on return.
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Enlist = false, NoResetOnClose = true };
        if (!HasSetting(connectionString, "Max Auto Prepare", "MaxAutoPrepare"))
        {
            // The step path runs the same few statements over and over: prepared once per pooled connection, PostgreSQL
            // parses and plans them once instead of on every step. A connection string that sets it (0 behind a pooler
            // without prepared-statement support) wins.
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        Sql = BuildStatements(_schema);
    }

    /// <summary>How many statements each pooled connection keeps prepared unless the connection string says otherwise.</summary>
    internal const int DefaultMaxAutoPrepare = 32;

    private static bool HasSetting(string connectionString, params string[] keys)
    {
        var parsed = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return keys.Any(parsed.ContainsKey);
    }

    public override int ContractVersion => StorageContract.Version;

    public override string Name => "PostgreSQL";

    public override int? CommandTimeoutSeconds { get; }

    public override StorageStatements Sql { get; }

    public override bool PrepareSchemaIfNecessary { get; }

    private readonly bool _skipHeavyMigrations;

    public string SchemaName => _schema;

    /// <summary>The connection string the dialect's connections use, with the settings it adds (no password).</summary>
    internal string ConnectionString => _dataSource.ConnectionString;

    public override DbConnection CreateConnection() => _dataSource.CreateConnection();

    public override void Dispose() => _dataSource.Dispose();

    public override int? MaxPoolSize
    {
        get
        {
            var builder = new NpgsqlConnectionStringBuilder(_dataSource.ConnectionString);
            return builder.Pooling ? builder.MaxPoolSize : null;
        }
    }

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
        await AcquireInstallLockAsync(connection, ct).ConfigureAwait(false);
        try
        {
            // One transaction per migration, all under the install lock this session holds.
            await script.MigrateAsync(connection, async (c, token) =>
                {
                    var tx = await c.BeginTransactionAsync(token).ConfigureAwait(false);
                    // A schema change waits for running steps' locks at most this long, then rolls back and is tried again,
                    // so steps queue behind it for seconds at most (and a deadlock with them costs a retry, not the start-up).
                    await c.ExecuteAsync(new CommandDefinition("SET LOCAL lock_timeout = '3s';", transaction: tx, cancellationToken: token))
                        .ConfigureAwait(false);
                    // The tables a migration may change, locked up front in the order every step takes them (workflow, then
                    // execution): a schema change then waits for running steps instead of deadlocking with them.
                    await c.ExecuteAsync(new CommandDefinition(
                        $"DO $$ BEGIN IF to_regclass('\"{_schema}\".\"StepExecutions\"') IS NOT NULL THEN " +
                        $"LOCK TABLE \"{_schema}\".\"Workflows\", \"{_schema}\".\"StepExecutions\" IN ACCESS EXCLUSIVE MODE; END IF; END $$;",
                        transaction: tx, cancellationToken: token)).ConfigureAwait(false);
                    foreach (var statement in Preamble(_schema))
                    {
                        await c.ExecuteAsync(new CommandDefinition(statement, transaction: tx, cancellationToken: token)).ConfigureAwait(false);
                    }

                    return tx;
                },
                $"SELECT \"Version\" FROM \"{_schema}\".\"SchemaVersion\" WHERE \"Id\" = 1;", RecordVersion(_schema, "@version"), upToVersion,
                InstallLogger, ct, _skipHeavyMigrations, static statement => statement.Contains(" CONCURRENTLY ", StringComparison.Ordinal),
                BuildIndexOnlineAsync, IsTransient).ConfigureAwait(false);
        }
        finally
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@key);", new { key = InstallLockKey },
                cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes the installer's lock for this session, waiting for another installer for at most a minute. It is polled rather
    /// than waited for in one statement: a waiting statement holds a snapshot, and <c>CREATE INDEX CONCURRENTLY</c> in the
    /// installer that holds the lock waits for every older snapshot to end, which would be a deadlock.
    /// </summary>
    private async Task AcquireInstallLockAsync(DbConnection connection, CancellationToken ct)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@key);", new { key = InstallLockKey },
                   cancellationToken: ct)).ConfigureAwait(false))
        {
            if (waited.Elapsed > InstallLockWait)
            {
                throw InstallLockTimeout(null);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
        }
    }

    /// <summary>How long the installer waits for another installer's lock (a minute; tests shorten it).</summary>
    internal TimeSpan InstallLockWait { get; set; } = TimeSpan.FromSeconds(60);

    private InvalidOperationException InstallLockTimeout(Exception? e) => new(
        $"GenevaDrive could not take the install lock of schema \"{_schema}\" within {InstallLockWait.TotalSeconds:0} s: another process is applying a migration " +
        "(a large table can take minutes). Start again once it has finished, or install the schema ahead of the deploy with the script " +
        "from PostgreSqlWorkflowSchema.GetInstallScript and PrepareSchemaIfNecessary = false.", e);

    /// <summary>
    /// Runs a <c>CREATE INDEX CONCURRENTLY IF NOT EXISTS</c> outside any transaction (the installer's session holds the
    /// install lock, so two installers never build it at once). A build that failed earlier leaves an invalid index
    /// behind, which <c>IF NOT EXISTS</c> would keep forever: it is dropped first and built again.
    /// </summary>
    private async Task BuildIndexOnlineAsync(DbConnection connection, string statement, CancellationToken ct)
    {
        var name = System.Text.RegularExpressions.Regex.Match(statement, "IF NOT EXISTS \"([A-Za-z0-9_]+)\"").Groups[1].Value;
        var invalid = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "WHERE n.nspname = @schema AND c.relname = @name AND NOT i.indisvalid);", new { schema = _schema, name }, cancellationToken: ct))
            .ConfigureAwait(false);
        if (invalid)
        {
            await connection.ExecuteAsync(new CommandDefinition($"DROP INDEX CONCURRENTLY IF EXISTS \"{_schema}\".\"{name}\";",
                commandTimeout: 0, cancellationToken: ct)).ConfigureAwait(false);
        }

        await connection.ExecuteAsync(new CommandDefinition(statement, commandTimeout: 0, cancellationToken: ct)).ConfigureAwait(false);
    }

    public override int? SchemaVersion => _schemaVersion ??= LoadScript(_schema).LatestVersion;

    private int? _schemaVersion;

    public override async Task<int?> ReadInstalledSchemaVersionAsync(CancellationToken ct) => await GetSchemaVersionAsync().ConfigureAwait(false);

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
        var flavor = new SqlFlavor
        {
            Workflows = $"\"{s}\".\"Workflows\"",
            Executions = $"\"{s}\".\"StepExecutions\"",
            Events = $"\"{s}\".\"WorkflowEvents\"",
            Operations = $"\"{s}\".\"Operations\"",
            Now = "now()",
            LeaseExpiry = "date_trunc('milliseconds', now()) + @LeaseMilliseconds * INTERVAL '1 millisecond'",
            LockClause = " FOR UPDATE",
            // Npgsql learns from the server that the transaction ended, and the transaction object's dispose is then a no-op.
            CommitInBatch = "COMMIT;",
            DataModifyingCtes = true,
            ReturnsId = " RETURNING \"Id\";",
            NotAllowMultiple = "NOT \"AllowMultiple\"",
            Page = "LIMIT @Limit OFFSET @Offset",
            // One array parameter carries the ids, so a batch is not bounded by a parameter limit.
            InIds = "= ANY(@Ids)",
        };
        return SqlTemplate.Build(flavor, shared => shared with
        {
            // The job id of a scheduled execution is a hint, not a fact to keep: should a crash of the database lose it,
            // the reconciler finds the execution without a job and adds one (a duplicate job is a no-op at claim). So
            // its commit does not wait for the WAL flush (one fsync less per step); the next synchronous commit, at the
            // latest the step's claim, makes it durable. One round trip, and never inside another transaction.
            SetStepExecutionJobId = shared.SetStepExecutionJobId.WithText("BEGIN; SET LOCAL synchronous_commit TO OFF; " + shared.SetStepExecutionJobId.Text + " COMMIT;"),
            // SKIP LOCKED: a row another transaction holds (a late claim) waits for the next cleanup instead of blocking this one.
            LockEndedWorkflowIds = shared.LockEndedWorkflowIds.WithText(SqlTemplate.Render(flavor,
                "SELECT \"Id\" FROM {W} WHERE \"State\" IN ('finished', 'canceled') AND \"TransitionedAt\" < @Cutoff ORDER BY \"Id\" LIMIT @Limit FOR UPDATE SKIP LOCKED;")),
            DeleteStepExecutionsOfWorkflows = shared.DeleteStepExecutionsOfWorkflows.WithText(SqlTemplate.Render(flavor,
                "DELETE FROM {E} WHERE \"Id\" IN (SELECT \"Id\" FROM {E} WHERE \"WorkflowId\" = ANY(@Ids) LIMIT @Limit);")),
        });
    }
}
