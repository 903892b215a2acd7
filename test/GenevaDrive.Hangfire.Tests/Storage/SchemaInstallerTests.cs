using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Tests.Storage;

public sealed class SchemaInstallerTests(string database) : StorageTestBase(database)
{
    private const int LatestVersion = 11;

    protected override bool InstallSchema => false;

    [Test]
    public async Task Install_TwiceInARow_IsHarmless()
    {
        await Db.InstallAsync();
        await Db.InstallAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That((await StartAsync()).FirstExecution, Is.Not.Null);
        });
    }

    [Test]
    public async Task AFailedMigration_LeavesTheDatabaseAtTheLastCommittedVersion_AndTheNextRunContinues()
    {
        Assume.That(Database, Is.EqualTo("sqlite").Or.EqualTo("postgresql"), "the script below is written for SQLite and PostgreSQL");
        await Db.InstallAsync(upToVersion: 1); // the schema (or file) the test tables live in
        var log = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        string Script(string third) => $"""
            -- @migration 1
            CREATE TABLE {Db.Table("t_one")} (id int);
            -- @migration 2
            CREATE TABLE {Db.Table("t_two")} (id int);
            GO
            INSERT INTO {Db.Table("t_two")} (id) VALUES (2);
            -- @migration 3
            {third}
            """;
        var versions = Db.Table("t_versions");
        async Task<int> MigrateAsync(string script)
        {
            await using var connection = Db.Dialect.CreateConnection();
            await connection.OpenAsync();
            return await SchemaScript.Parse(script).MigrateAsync(connection, async (c, ct) =>
                {
                    var tx = await c.BeginTransactionAsync(ct);
                    await Dapper.SqlMapper.ExecuteAsync(c, $"CREATE TABLE IF NOT EXISTS {versions} (\"Id\" int PRIMARY KEY, \"Version\" int NOT NULL);", transaction: tx);
                    return tx;
                },
                $"SELECT \"Version\" FROM {versions} WHERE \"Id\" = 1;", $"DELETE FROM {versions}; INSERT INTO {versions} (\"Id\", \"Version\") VALUES (1, @version);",
                null, log.CreateLogger("installer"), CancellationToken.None);
        }

        var failure = Assert.CatchAsync(() => MigrateAsync(Script($"CREATE TABLE {Db.Table("t_three")} (id int); INSERT INTO no_such_table VALUES (1);")));
        var afterFailure = await Db.ExecuteScalarAsync<int>($"SELECT \"Version\" FROM {versions} WHERE \"Id\" = 1;");
        var rowsKept = await Db.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {Db.Table("t_two")};");
        var applied = await MigrateAsync(Script($"CREATE TABLE {Db.Table("t_three")} (id int);"));
        var afterFix = await Db.ExecuteScalarAsync<int>($"SELECT \"Version\" FROM {versions} WHERE \"Id\" = 1;");

        Assert.Multiple(() =>
        {
            Assert.That(failure, Is.Not.Null, "migration 3 failed");
            Assert.That(afterFailure, Is.EqualTo(2), "migrations 1 and 2 committed each on their own; 3 rolled back alone");
            Assert.That(rowsKept, Is.EqualTo(1));
            Assert.That(applied, Is.EqualTo(1), "the next run continued with migration 3 only");
            Assert.That(afterFix, Is.EqualTo(3));
            Assert.That(log.Entries.Select(e => e.Message), Has.Some.StartsWith("Schema migration 2 of 3 applied and committed in"));
        });
    }

    [Test]
    public async Task AMigrationThatMeetsATransientFault_RollsBackAlone_AndIsTriedAgain()
    {
        Assume.That(Database, Is.EqualTo("sqlite").Or.EqualTo("postgresql"), "the script below is written for SQLite and PostgreSQL");
        await Db.InstallAsync(upToVersion: 1);
        var log = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        var versions = Db.Table("t_retry_versions");
        var script = $"""
            -- @migration 1
            CREATE TABLE {Db.Table("t_retry_one")} (id int);
            -- @migration 2
            CREATE TABLE {Db.Table("t_retry_two")} (id int);
            GO
            INSERT INTO {Db.Table("t_retry_two")} (id) VALUES (2);
            """;
        var faults = 0;
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();

        var begun = 0;
        var applied = await SchemaScript.Parse(script).MigrateAsync(connection, async (c, ct) =>
            {
                var tx = await c.BeginTransactionAsync(ct);
                await Dapper.SqlMapper.ExecuteAsync(c, $"CREATE TABLE IF NOT EXISTS {versions} (\"Id\" int PRIMARY KEY, \"Version\" int NOT NULL);", transaction: tx);
                if (++begun == 2 && faults++ == 0)
                {
                    // Migration 2's transaction meets a deadlock with a running step (as a schema change can on a busy database).
                    await tx.DisposeAsync();
                    throw new TimeoutException("injected: a deadlock with a running step");
                }

                return tx;
            },
            $"SELECT \"Version\" FROM {versions} WHERE \"Id\" = 1;", $"DELETE FROM {versions}; INSERT INTO {versions} (\"Id\", \"Version\") VALUES (1, @version);",
            null, log.CreateLogger("installer"), CancellationToken.None, isTransient: e => e is TimeoutException);

        Assert.Multiple(async () =>
        {
            Assert.That(applied, Is.EqualTo(2));
            Assert.That(await Db.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {Db.Table("t_retry_two")};"), Is.EqualTo(1), "the retried migration ran once in effect");
            Assert.That(faults, Is.EqualTo(1));
            Assert.That(log.Entries.Select(e => e.Message), Has.Some.Contains("rolled back; trying it again (1 of 20)"));
        });
    }

    [Test]
    public async Task AStartWithoutTheInstaller_OnAnOlderSchema_FailsWithWhatToRun_AndANewerSchemaIsFine()
    {
        await Db.InstallAsync(upToVersion: LatestVersion - 1);
        using var withoutInstaller = Db.CreateDialect(prepareSchema: false);

        var refused = Assert.CatchAsync<InvalidOperationException>(() => withoutInstaller.PrepareAsync(CancellationToken.None));

        await Db.InstallAsync();
        var log = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        withoutInstaller.InstallLogger = log.CreateLogger("runtime");
        var current = withoutInstaller.PrepareAsync(CancellationToken.None);
        await current;
        // A later GenevaDrive migrated the database further (a rolling deploy): this build carries on.
        await Db.ExecuteAsync($"UPDATE {Db.Table("SchemaVersion")} SET \"Version\" = {LatestVersion + 1} WHERE \"Id\" = 1");
        await withoutInstaller.PrepareAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(refused!.Message, Does.Contain($"at version {LatestVersion - 1}").And.Contain($"needs version {LatestVersion}")
                .And.Contain("PrepareSchemaIfNecessary is off").And.Contain("GetInstallScript"));
            Assert.That(current.IsCompletedSuccessfully, Is.True, "at the version it needs, start-up goes on");
            Assert.That(log.Entries.Select(e => e.Message), Has.Some.Contains($"at version {LatestVersion + 1}, newer than this build's {LatestVersion}"));
        });
    }

    [Test]
    public async Task WithSkipHeavyMigrations_StartUpStopsBeforeAHeavyMigration_WithItsStatements_AndWithoutTheOptionItGoesOn()
    {
        await Db.InstallAsync(upToVersion: 7);
        using var careful = Db.CreateDialect(skipHeavyMigrations: true);

        var refused = Assert.CatchAsync<InvalidOperationException>(() => careful.PrepareAsync(CancellationToken.None))!;
        var versionAfterRefusal = await Db.GetSchemaVersionAsync();
        using var regular = Db.CreateDialect();
        await regular.PrepareAsync(CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(refused.Message, Does.Contain("migration 8 is heavy (builds an index on Workflows").And.Contain("SkipHeavyMigrations")
                .And.Contain("IX_").And.Contain("Workflows_State_Id").And.Contain("SchemaVersion"), "the exact statements for a DBA, with the version to record");
            Assert.That(versionAfterRefusal, Is.EqualTo(7), "nothing of the heavy migration ran");
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion), "without the option the installer runs it");
        });
    }

    [Test]
    public async Task OnPostgreSql_IndexesOnExistingTables_AreBuiltConcurrently_AndAnInvalidLeftoverIsBuiltAgain()
    {
        Assume.That(Database, Is.EqualTo("postgresql"), "CREATE INDEX CONCURRENTLY is PostgreSQL's");
        await Db.InstallAsync(upToVersion: 7);
        // A concurrent build that died half-way leaves an index marked invalid: IF NOT EXISTS alone would keep it forever.
        await Db.ExecuteAsync($"CREATE INDEX \"IX_Workflows_State_Id\" ON {Db.Table("Workflows")} (\"State\", \"Id\")");
        var schema = Db.Target.SchemaOrPrefix;
        await Db.ExecuteAsync("UPDATE pg_index SET indisvalid = false WHERE indexrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n " +
            "ON n.oid = c.relnamespace WHERE n.nspname = @schema AND c.relname = 'IX_Workflows_State_Id')", new { schema });

        await Db.InstallAsync();

        var valid = await Db.ExecuteScalarAsync<bool>("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n " +
            "ON n.oid = c.relnamespace WHERE n.nspname = @schema AND c.relname = 'IX_Workflows_State_Id'", new { schema });
        Assert.Multiple(async () =>
        {
            // CREATE INDEX CONCURRENTLY fails inside a transaction block (25001): reaching the latest version proves it ran outside one.
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That(valid, Is.True, "the invalid leftover was dropped and built again");
            Assert.That(PostgreSqlWorkflowSchema.GetInstallScript(), Does.Contain("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"IX_Workflows_State_Id\""));
        });
    }

    [Test]
    public async Task OnPostgreSql_AnInstallerThatCannotGetTheLock_SaysWhy_AndWhatToDo()
    {
        Assume.That(Database, Is.EqualTo("postgresql"), "the advisory lock is PostgreSQL's");
        await using var holder = new Npgsql.NpgsqlConnection(Db.Target.ConnectionString);
        await holder.OpenAsync();
        await Dapper.SqlMapper.ExecuteAsync(holder, "SELECT pg_advisory_lock(5144639531397497970);"); // the installer's key
        var waiting = (GenevaDrive.PostgreSql.PostgreSqlDialect)Db.CreateDialect();
        waiting.InstallLockWait = TimeSpan.FromSeconds(1);

        var refused = Assert.CatchAsync<InvalidOperationException>(() => waiting.InstallSchemaAsync(CancellationToken.None))!;
        await Dapper.SqlMapper.ExecuteAsync(holder, "SELECT pg_advisory_unlock(5144639531397497970);");
        await waiting.InstallSchemaAsync(CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(refused.Message, Does.Contain("could not take the install lock").And.Contain("within 1 s").And.Contain("GetInstallScript"));
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion), "once the lock is free the installer goes on");
        });
    }

    [Test]
    public async Task OnPostgreSql_TheDbaScript_IsANoOpOnAnUpToDateDatabase()
    {
        Assume.That(Database, Is.EqualTo("postgresql"), "PostgreSQL's script guards every statement (IF NOT EXISTS); SQLite's is for new databases");
        await Db.InstallAsync();
        var created = await StartAsync();
        var schema = Db.Target.SchemaOrPrefix;
        var statements = PostgreSqlWorkflowSchema.GetInstallScript(schema)
            .Split('\n').Aggregate(new List<string> { "" }, (list, line) =>
            {
                if (line.Trim() == "GO")
                {
                    list.Add("");
                }
                else
                {
                    list[^1] += line + "\n";
                }

                return list;
            })
            .Where(statement => statement.Split('\n').Any(line => line.Trim().Length > 0 && !line.TrimStart().StartsWith("--", StringComparison.Ordinal)))
            .ToList();

        foreach (var statement in statements)
        {
            await Db.ExecuteAsync(statement);
        }

        Assert.Multiple(async () =>
        {
            Assert.That(statements, Has.Count.GreaterThan(20), "the whole script ran, statement by statement");
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).State, Is.EqualTo(created.Workflow.State), "the rows are untouched");
            Assert.That(await Db.CountRowsAsync("StepExecutions"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task OnSqlite_TheUpgradeScript_IsANoOpOnAnUpToDateDatabase_AndBringsAnOlderOneToTheShapeOfANewOne()
    {
        Assume.That(Database, Is.EqualTo("sqlite"), "SQLite has no conditional schema changes, so its upgrade script is cut for the recorded version");
        await Db.InstallAsync();
        var created = await StartAsync();
        var connectionString = Db.Target.ConnectionString;
        var before = await ShapeAsync(connectionString, Db.Target.SchemaOrPrefix);
        await RunScriptAsync(connectionString, SqliteWorkflowSchema.GetUpgradeScript(await Db.GetSchemaVersionAsync(), Db.Target.SchemaOrPrefix));
        var after = await ShapeAsync(connectionString, Db.Target.SchemaOrPrefix);

        // An older database (version 5) and a new one beside it, under prefixes of their own in the same file.
        var older = new GenevaDrive.Sqlite.SqliteDialect(connectionString, new SqliteWorkflowStorageOptions { TablePrefix = "Old_" });
        await older.InstallSchemaAsync(5, CancellationToken.None);
        await RunScriptAsync(connectionString, SqliteWorkflowSchema.GetUpgradeScript(await older.GetSchemaVersionAsync(), "Old_"));
        var fresh = new GenevaDrive.Sqlite.SqliteDialect(connectionString, new SqliteWorkflowStorageOptions { TablePrefix = "New_" });
        await fresh.InstallSchemaAsync(null, CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(after, Is.EqualTo(before), "the script from the latest version changes no table, column or index");
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).State, Is.EqualTo(created.Workflow.State), "the rows are untouched");
            Assert.That(await older.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion), "the older database records the latest version");
            Assert.That(await ShapeAsync(connectionString, "Old_"), Is.EqualTo(await ShapeAsync(connectionString, "New_")),
                "and has the tables, columns and indexes of a new one");
            Assert.That(() => SqliteWorkflowSchema.GetUpgradeScript(LatestVersion + 1), Throws.TypeOf<ArgumentOutOfRangeException>()
                .With.Message.Contain($"1 to {LatestVersion}").And.Message.Contain("GetInstallScript"));
        });
    }

    /// <summary>Every table's columns and every index under a prefix, with the prefix taken out.</summary>
    private static async Task<string[]> ShapeAsync(string connectionString, string prefix)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
        await connection.OpenAsync();
        var rows = await Dapper.SqlMapper.QueryAsync<string>(connection,
            "SELECT m.name || '.' || p.name || ' ' || p.type || CASE p.\"notnull\" WHEN 1 THEN ' NOT NULL' ELSE '' END " +
            "FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name LIKE @pattern " +
            "UNION ALL SELECT 'index ' || name FROM sqlite_master WHERE type = 'index' AND name LIKE @indexPattern AND sql IS NOT NULL",
            new { pattern = prefix + "%", indexPattern = "%" + prefix + "%" });
        return rows.Select(row => row.Replace(prefix, "", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
    }

    private static async Task RunScriptAsync(string connectionString, string script)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = script;
        await command.ExecuteNonQueryAsync();
    }

    [Test]
    public async Task ConcurrentInstallers_WaitForEachOther()
    {
        var installers = Enumerable.Range(0, 4).Select(_ => Task.Run(() => Db.CreateDialect().InstallSchemaAsync(CancellationToken.None)));

        await Task.WhenAll(installers);

        Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
    }

    [Test]
    public async Task Upgrade_FromVersionOne_AddsLeases_AndKeepsRows()
    {
        await Db.InstallAsync(upToVersion: 1);
        var before = await Db.GetSchemaVersionAsync();
        var oldId = await InsertVersionOneWorkflowAsync();

        await Db.InstallAsync();

        var (created, claim) = await StartAndClaimAsync("new");
        Assert.Multiple(async () =>
        {
            Assert.That(before, Is.EqualTo(1));
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That((await WorkflowAsync(oldId)).WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That((await WorkflowAsync(oldId)).PausedByJobId, Is.Null, "new columns start empty on old rows");
            Assert.That((await ExecutionAsync(claim.Execution!.Id)).LeaseToken, Is.Not.Null);
            Assert.That(created.Workflow.Id, Is.GreaterThan(oldId));
        });
    }

    /// <summary>A row written by version 1 of the schema, with only the columns it had.</summary>
    private async Task<long> InsertVersionOneWorkflowAsync()
    {
        var (_, schemaOrPrefix) = Db.Target;
        var table = Database == "sqlite" ? $"\"{schemaOrPrefix}Workflows\"" : Database == "postgresql" ? $"\"{schemaOrPrefix}\".\"Workflows\"" : $"[{schemaOrPrefix}].[Workflows]";
        var now = Database == "sqlite" ? "'2026-01-01 00:00:00'" : "CURRENT_TIMESTAMP";
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await Dapper.SqlMapper.ExecuteAsync(connection,
            $"INSERT INTO {table} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"CreatedAt\", \"UpdatedAt\", \"TransitionedAt\") " +
            $"VALUES ('legacy', 'Hero', 'old', 'finished', {now}, {now}, {now});"); // SqlClient sessions quote identifiers with double quotes too
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, $"SELECT MAX(\"Id\") FROM {table};");
    }

    [Test]
    public async Task Prepare_InstallsOnlyWhenTheOptionIsOn()
    {
        // Off: nothing is installed, and start-up says the schema is missing instead of the first step failing on it.
        var missing = Assert.CatchAsync<InvalidOperationException>(() => Db.CreateDialect(prepareSchema: false).PrepareAsync(CancellationToken.None));
        var whenOff = await Db.GetSchemaVersionAsync();

        await Db.CreateDialect(prepareSchema: true).PrepareAsync(CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(whenOff, Is.Zero);
            Assert.That(missing!.Message, Does.Contain("at version 0"));
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
        });
    }

    [Test]
    public async Task Uninstalled_ReportsVersionZero() =>
        Assert.That(await Db.GetSchemaVersionAsync(), Is.Zero);
}
