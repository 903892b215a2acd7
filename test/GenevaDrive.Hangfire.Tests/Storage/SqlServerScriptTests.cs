using System.Data;
using GenevaDrive.SqlServer;
using GenevaDrive.Storage;
using Microsoft.Data.SqlClient;
using Microsoft.SqlServer.TransactSql.ScriptDom;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// No SQL Server runs on our machines, so every T-SQL statement is parsed with Microsoft's own parser, and
/// the rules that keep it correct on a real server are checked on the parse trees: lock hints, no
/// compatibility-level-dependent built-ins, no bare OUTPUT, row-bounded cleanup, the DBA script's header,
/// and the parameter types the dialect sends.
/// </summary>
public sealed partial class SqlServerScriptTests
{
    private const string Schema = "GenevaDrive";

    /// <summary>Built-ins that need database compatibility level 130 or later (a database restored at 120 fails on them).</summary>
    private static readonly string[] CompatibilityLevelBuiltIns =
        ["STRING_SPLIT", "OPENJSON", "STRING_AGG", "TRIM", "CONCAT_WS", "TRANSLATE", "GREATEST", "LEAST", "GENERATE_SERIES", "DATE_BUCKET", "APPROX_COUNT_DISTINCT"];

    /// <summary>Every runtime statement by name (filter shapes as Name[i]).</summary>
    private static IEnumerable<(string Name, string Sql)> Runtime(string schema = Schema)
    {
        var statements = SqlServerDialect.BuildStatements(schema);
        foreach (var property in typeof(StorageStatements).GetProperties())
        {
            switch (property.GetValue(statements))
            {
                case SqlStatement statement:
                    yield return (property.Name, statement.Text);
                    break;
                case SqlStatement[] shapes:
                    for (var i = 0; i < shapes.Length; i++)
                    {
                        yield return ($"{property.Name}[{i}]", shapes[i].Text);
                    }

                    break;
                case string sql:
                    yield return (property.Name, sql);
                    break;
            }
        }
    }

    private static IEnumerable<(string Name, string Sql)> Installer()
    {
        return SqlServerDialect.LoadScript(Schema).Migrations.SelectMany(m => m.Statements.Select((s, i) => ($"migration {m.Version} #{i + 1}", s)))
            .Concat(SqlServerDialect.Preamble(Schema).Select((s, i) => ($"preamble #{i + 1}", s)))
            .Append(("record version", SqlServerDialect.RecordVersion(Schema, "@version")))
            .Append(("install lock", SqlServerDialect.AcquireInstallLock(Schema)))
            .Append(("installer's session lock", SqlServerDialect.AcquireInstallLock(Schema, "Session")))
            .Append(("installer's lock release", SqlServerDialect.ReleaseInstallLock(Schema)))
            .Append(("select version", SqlServerDialect.SelectVersion(Schema)));
    }

    private static IEnumerable<TestCaseData> RuntimeStatements() =>
        Runtime().Select(x => new TestCaseData(x.Name, x.Sql).SetName($"RuntimeStatement_Parses({x.Name})"));

    private static IEnumerable<TestCaseData> InstallerStatements() =>
        Installer().Select(x => new TestCaseData(x.Name, x.Sql).SetName($"InstallerStatement_Parses({x.Name})"));

    private static IEnumerable<TestCaseData> EveryStatement() =>
        Runtime().Concat(Installer()).Append((Name: "DBA script", Sql: WithoutSqlcmdCommands(SqlServerWorkflowSchema.GetInstallScript())))
            .Select(x => new TestCaseData(x.Name, x.Sql).SetName($"Statement_UsesNoCompatibilityLevelBuiltInAndNoBareOutput({x.Name})"));

    private static TSqlFragment Parse(string sql, out IList<ParseError> errors)
    {
        var parser = new TSql160Parser(initialQuotedIdentifiers: true);
        // Dapper expands a list parameter ("IN @Ids") into one parameter per item before SQL Server sees it.
        return parser.Parse(new StringReader(sql.Replace("IN @Ids", "IN (@Ids1, @Ids2)", StringComparison.Ordinal)), out errors);
    }

    private static string Describe(IList<ParseError> errors) =>
        string.Join("; ", errors.Select(e => $"line {e.Line} col {e.Column}: {e.Message}"));

    private static T Collect<T>(string sql, T visitor)
        where T : TSqlFragmentVisitor
    {
        var fragment = Parse(sql, out var errors);
        Assert.That(errors, Is.Empty, Describe(errors));
        fragment.Accept(visitor);
        return visitor;
    }

    [TestCaseSource(nameof(RuntimeStatements))]
    public void RuntimeStatement_Parses(string name, string sql)
    {
        Parse(sql, out var errors);

        Assert.That(errors, Is.Empty, $"{name}: {Describe(errors)}\n{sql}");
    }

    [TestCaseSource(nameof(InstallerStatements))]
    public void InstallerStatement_Parses(string name, string sql)
    {
        Parse(sql, out var errors);

        Assert.That(errors, Is.Empty, $"{name}: {Describe(errors)}\n{sql}");
    }

    [TestCaseSource(nameof(EveryStatement))]
    public void Statement_UsesNoCompatibilityLevelBuiltInAndNoBareOutput(string name, string sql)
    {
        var found = Collect(sql, new ShapeCollector());

        Assert.Multiple(() =>
        {
            Assert.That(found.Functions.Intersect(CompatibilityLevelBuiltIns, StringComparer.OrdinalIgnoreCase), Is.Empty,
                $"{name} calls a built-in that needs compatibility level 130+: {sql}");
            Assert.That(found.BareOutputClauses, Is.Zero, $"{name} has an OUTPUT clause without INTO (fails with error 334 once a table has a trigger): {sql}");
        });
    }

    [TestCase(nameof(StorageStatements.LockWorkflow), 1)]
    [TestCase(nameof(StorageStatements.LockStepExecution), 1)]
    [TestCase(nameof(StorageStatements.LockWorkflowAndStepExecution), 2)]
    [TestCase(nameof(StorageStatements.LockActiveStepExecution), 1)]
    [TestCase(nameof(StorageStatements.LockEndedWorkflowIds), 1)]
    public void LockingReads_CarryUpdLockRowLockAndReadCommittedLock(string name, int lockedReads)
    {
        var sql = Runtime().Single(x => x.Name == name).Sql;

        var hints = Collect(sql, new ShapeCollector()).Hints;

        // Every locking read of the statement carries all three (the batch of two reads, each of them).
        foreach (var kind in new[] { TableHintKind.UpdLock, TableHintKind.Rowlock, TableHintKind.ReadCommittedLock })
        {
            Assert.That(hints.Count(h => h == kind), Is.EqualTo(lockedReads),
                $"{kind}: READCOMMITTEDLOCK makes the read see the latest committed row even where READ_COMMITTED_SNAPSHOT is on; in {sql}");
        }
    }

    [Test]
    public void Cleanup_IsRowBounded_ParentFirst_AndRunsWithLowDeadlockPriority()
    {
        var statements = SqlServerDialect.BuildStatements(Schema);

        var lockParents = Collect(statements.LockEndedWorkflowIds.Text, new ShapeCollector());
        var deleteChildren = Collect(statements.DeleteStepExecutionsOfWorkflows.Text, new ShapeCollector());
        var deleteParents = Collect(statements.DeleteWorkflows.Text, new ShapeCollector());

        Assert.Multiple(() =>
        {
            Assert.That(lockParents.TopFilters, Is.EqualTo(1), "the batch of workflows is bounded");
            Assert.That(deleteChildren.TopFilters, Is.EqualTo(1), "each execution delete is bounded by DELETE TOP (@Limit)");
            Assert.That(WorkflowStore.CleanupChunk, Is.LessThanOrEqualTo(1000), "below SQL Server's ~5,000-lock escalation point with every index");
            Assert.That(deleteParents.InPredicatesOnParameters, Is.EqualTo(1), "workflows are deleted by the locked ids only");
            Assert.That(statements.CleanupSessionSetup, Does.Contain("SET DEADLOCK_PRIORITY LOW").And.Contain("SET LOCK_TIMEOUT"));
            Assert.That(statements.CleanupSessionReset, Does.Contain("SET DEADLOCK_PRIORITY NORMAL").And.Contain("SET LOCK_TIMEOUT -1"));
        });
    }

    [Test]
    public void Inserts_ReturnTheIdentityThroughScopeIdentity()
    {
        var statements = SqlServerDialect.BuildStatements(Schema);

        Assert.Multiple(() =>
        {
            Assert.That(Collect(statements.InsertWorkflow.Text, new ShapeCollector()).Functions, Does.Contain("SCOPE_IDENTITY"));
            Assert.That(Collect(statements.InsertStepExecution.Text, new ShapeCollector()).Functions, Does.Contain("SCOPE_IDENTITY"));
        });
    }

    [Test]
    public void Migration4_NamesObjectsADbaAddedOnTheColumnsItRetypes_BeforeItChangesAnything()
    {
        var migration = SqlServerDialect.LoadScript(Schema).Migrations.Single(m => m.Version == 4).Statements;
        var preflight = migration[0];
        var found = Collect(preflight, new ShapeCollector());

        Assert.Multiple(() =>
        {
            Assert.That(preflight, Does.Contain("THROW 50004").And.Contain("sys.index_columns").And.Contain("sys.stats_columns")
                .And.Contain("[user_created] = 1"), "indexes and user statistics on the retyped columns are named");
            Assert.That(preflight, Does.Not.Contain("ALTER ").And.Not.Contain("DROP "), "the pre-flight changes nothing");
            Assert.That(found.Functions, Does.Not.Contain("STRING_AGG"), "no compatibility-level-dependent built-in");
            Assert.That(migration.Skip(1), Has.Some.Contains("ALTER COLUMN [HeroId]"), "the retyping follows it");
            // Migration 6 adds nullable columns (metadata only on every edition), so it is not heavy.
            Assert.That(SqlServerDialect.LoadScript(Schema).Heavy.Keys, Is.EquivalentTo(new[] { 2, 4, 8, 11 }));
        });
    }

    [Test]
    public void WholeInstallScriptForDbas_Parses_AndStartsWithTheSessionOptionsFilteredIndexesNeed()
    {
        var script = SqlServerWorkflowSchema.GetInstallScript("Custom_Schema");

        var fragment = (TSqlScript)Parse(WithoutSqlcmdCommands(script), out var errors);
        var firstBatch = fragment.Batches[0].Statements;
        var options = firstBatch.OfType<PredicateSetStatement>().ToDictionary(s => s.Options, s => s.IsOn);

        Assert.Multiple(() =>
        {
            Assert.That(errors, Is.Empty, Describe(errors));
            Assert.That(fragment.Batches, Has.Count.GreaterThan(10));
            Assert.That(script, Does.Contain("[Custom_Schema].[StepExecutions]").And.Not.Contain("{S}"));
            Assert.That(SqlServerWorkflowSchema.LatestVersion, Is.EqualTo(11));
            foreach (var on in new[] { SetOptions.AnsiNulls, SetOptions.AnsiPadding, SetOptions.AnsiWarnings, SetOptions.ArithAbort,
                         SetOptions.ConcatNullYieldsNull, SetOptions.QuotedIdentifier })
            {
                Assert.That(options.Any(o => o.Key.HasFlag(on) && o.Value), Is.True, $"{on} ON in the first batch");
            }

            Assert.That(options.Any(o => o.Key.HasFlag(SetOptions.NumericRoundAbort) && !o.Value), Is.True, "NUMERIC_ROUNDABORT OFF");
            Assert.That(firstBatch.OfType<SetOnOffStatement>().Any(), Is.True, "SET XACT_ABORT ON");
            Assert.That(script, Does.Contain("BEGIN TRANSACTION;").And.Contain("COMMIT TRANSACTION;"));
            Assert.That(script.IndexOf("sp_getapplock", StringComparison.Ordinal), Is.LessThan(script.IndexOf("CREATE TABLE [Custom_Schema].[Workflows]", StringComparison.Ordinal)));
        });
    }

    private static string WithoutSqlcmdCommands(string script) =>
        string.Join('\n', script.Split('\n').Where(line => !line.StartsWith(':')));

    /// <summary>
    /// The DBA script is safe where DBAs run it. In sqlcmd it stops at the first error. In SSMS (which goes on with the
    /// next batch after an error), a failed migration has rolled back under XACT_ABORT, and the guard before every later
    /// batch sees no transaction and turns NOEXEC on: nothing runs in autocommit without the lock. Every statement of a
    /// migration runs only below that migration's version, so the script is a no-op on an up-to-date database, and one
    /// transaction per migration means a failure leaves the database at the last migration that committed.
    /// </summary>
    [Test]
    public void DbaScript_StopsAfterAFailure_AndEveryStatementIsGuardedByItsVersion()
    {
        var script = SqlServerWorkflowSchema.GetInstallScript("Custom_Schema");
        var fragment = (TSqlScript)Parse(WithoutSqlcmdCommands(script), out var errors);
        var batches = fragment.Batches.Select(b => (Batch: b, Text: Sql(b))).ToList();
        var migrationStatements = 0;
        var guardedByVersion = 0;
        var precededByTheFailureGuard = 0;
        for (var i = 0; i < batches.Count; i++)
        {
            var text = batches[i].Text;
            var isMigrationWork = text.Contains("EXEC (N'", StringComparison.Ordinal) || text.Contains("[SchemaVersion] SET [Version]", StringComparison.Ordinal);
            if (!isMigrationWork || text.Contains("CREATE SCHEMA", StringComparison.Ordinal))
            {
                // The preamble (the schema and the version table) is idempotent on its own and runs before any migration.
                continue;
            }

            migrationStatements++;
            if (batches[i].Batch.Statements[0] is IfStatement { Predicate: var predicate } &&
                Sql(predicate).Contains("[Custom_Schema].[SchemaVersion]", StringComparison.Ordinal))
            {
                guardedByVersion++;
            }

            if (i > 0 && batches[i - 1].Text.Contains("IF @@TRANCOUNT = 0", StringComparison.Ordinal) &&
                batches[i - 1].Text.Contains("SET NOEXEC ON", StringComparison.Ordinal))
            {
                precededByTheFailureGuard++;
            }
        }

        var begins = batches.Count(b => b.Text.Contains("BEGIN TRANSACTION", StringComparison.Ordinal));
        var commits = batches.Count(b => b.Text.Contains("COMMIT TRANSACTION", StringComparison.Ordinal));
        Assert.Multiple(() =>
        {
            Assert.That(errors, Is.Empty, Describe(errors));
            Assert.That(script, Does.Contain(":on error exit"), "sqlcmd stops at the first error");
            Assert.That(migrationStatements, Is.GreaterThan(30));
            Assert.That(guardedByVersion, Is.EqualTo(migrationStatements), "every statement and version record runs only below its migration's version");
            Assert.That(precededByTheFailureGuard, Is.EqualTo(migrationStatements), "every one is preceded by the guard that stops the script after a failure");
            Assert.That(begins, Is.EqualTo(SqlServerWorkflowSchema.LatestVersion), "one transaction per migration");
            Assert.That(commits, Is.EqualTo(SqlServerWorkflowSchema.LatestVersion));
            Assert.That(batches[^1].Text.Trim(), Is.EqualTo("SET NOEXEC OFF;"), "the session is usable again after the script");
        });
    }

    private static string Sql(TSqlFragment fragment) =>
        string.Concat(Enumerable.Range(fragment.FirstTokenIndex, fragment.LastTokenIndex - fragment.FirstTokenIndex + 1)
            .Select(i => fragment.ScriptTokenStream[i].Text));

    [Test]
    public void InstallLock_IsPerSchema_AndItsResultIsChecked()
    {
        var sql = SqlServerDialect.AcquireInstallLock("Tenant_A");

        var found = Collect(sql, new ShapeCollector());

        Assert.Multiple(() =>
        {
            Assert.That(sql, Does.Contain("N'GenevaDrive:Install:Tenant_A'"));
            Assert.That(found.Throws, Is.EqualTo(1), "a lock that was not granted stops the installer");
            Assert.That(sql, Does.Contain("IF @lock < 0"));
        });
    }

    [Test]
    public void RuntimeStatements_UseOnlyParametersAndTheValidatedSchema()
    {
        // The database clock reads no table.
        foreach (var (name, sql) in Runtime("Sch").Where(x => !x.Name.StartsWith("CleanupSession", StringComparison.Ordinal) && x.Name != "SelectDatabaseNow"))
        {
            Assert.That(sql, Does.Contain("[Sch].["), name);
        }

        Assert.That(Runtime("Sch").Single(x => x.Name == "SelectDatabaseNow").Sql, Is.EqualTo("SELECT SYSUTCDATETIME() AS [Now];"));
    }

    [Test]
    public void Parameters_AreTypedByKind_Datetime2ForTimes_VarcharForCodes_SizedNvarcharForNames()
    {
        var record = new StepExecutionRecord
        {
            Id = 1, WorkflowId = 2, StepName = "send", State = "in_progress", Outcome = null, ScheduledFor = DateTime.UtcNow,
            JobId = "42", LeaseToken = "abc", ErrorMessage = "long text", CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow,
        };
        var statements = SqlServerDialect.BuildStatements(Schema);
        var statement = statements.InsertStepExecution.Then(statements.UpdateStepExecution);
        using var command = Typed(statement);
        var bound = StatementBinder.Bind(Dialect, statement, record);

        SqlParameter P(string name) => command.Parameters[name];
        Assert.Multiple(() =>
        {
            Assert.That(P("ScheduledFor").SqlDbType, Is.EqualTo(SqlDbType.DateTime2), "not datetime, which rounds to 3.33 ms");
            Assert.That(P("StartedAt").SqlDbType, Is.EqualTo(SqlDbType.DateTime2), "nullable times too");
            Assert.That(P("State").SqlDbType, Is.EqualTo(SqlDbType.VarChar), "nvarchar against a varchar column turns seeks into scans");
            Assert.That(P("State").Size, Is.EqualTo(20));
            Assert.That(P("Outcome").SqlDbType, Is.EqualTo(SqlDbType.VarChar));
            Assert.That(P("LeaseToken").SqlDbType, Is.EqualTo(SqlDbType.VarChar));
            Assert.That(P("LeaseToken").Size, Is.EqualTo(64));
            Assert.That(P("StepName").SqlDbType, Is.EqualTo(SqlDbType.NVarChar));
            Assert.That(P("StepName").Size, Is.EqualTo(200));
            Assert.That(P("JobId").Size, Is.EqualTo(100));
            Assert.That(P("ErrorMessage").Size, Is.EqualTo(-1), "nvarchar(max)");
            Assert.That(bound.ParameterNames, Is.EquivalentTo(statement.Parameters.Select(p => p.Name)), "exactly the statement's parameters");
            Assert.That(bound.ParameterNames, Does.Not.Contain("ParsedMetadata"), "nothing else of the record");
        });
    }

    [Test]
    public void ListParameters_StayUntyped_SoDapperExpandsThem()
    {
        var statement = SqlServerDialect.BuildStatements(Schema).DeleteStepExecutionsOfWorkflows;

        Assert.Multiple(() =>
        {
            Assert.That(StatementBinder.TypeOf(Dialect, statement.Parameters.Single(p => p.Name == "Ids")).Type, Is.Null);
            Assert.That(StatementBinder.TypeOf(Dialect, statement.Parameters.Single(p => p.Name == "Limit")).Type, Is.Null);
            Assert.That(StatementBinder.TypeOf(Dialect, SqlServerDialect.BuildStatements(Schema).LockEndedWorkflowIds.Parameters
                .Single(p => p.Name == "Cutoff")).Type, Is.EqualTo(DbType.DateTime2));
        });
    }

    private static readonly SqlServerDialect Dialect = new("Server=localhost;Database=unused", new SqlServerWorkflowStorageOptions());

    /// <summary>A command with the statement's parameters declared as the store declares them on SQL Server.</summary>
    private static SqlCommand Typed(SqlStatement statement)
    {
        var command = new SqlCommand(statement.Text);
        foreach (var shape in statement.Parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = shape.Name;
            var (type, size) = StatementBinder.TypeOf(Dialect, shape);
            if (type is { } t)
            {
                parameter.DbType = t;
            }

            if (size is { } s)
            {
                parameter.Size = s;
            }

            command.Parameters.Add(parameter);
        }

        return command;
    }

    private sealed class ShapeCollector : TSqlFragmentVisitor
    {
        public List<TableHintKind> Hints { get; } = [];

        public List<string> Functions { get; } = [];

        public int BareOutputClauses { get; private set; }

        public int TopFilters { get; private set; }

        public int InPredicatesOnParameters { get; private set; }

        public int Throws { get; private set; }

        public override void Visit(TableHint node) => Hints.Add(node.HintKind);

        public override void Visit(FunctionCall node) => Functions.Add(node.FunctionName.Value.ToUpperInvariant());

        public override void Visit(GlobalFunctionTableReference node) => Functions.Add(node.Name.Value.ToUpperInvariant());

        public override void Visit(SchemaObjectFunctionTableReference node) => Functions.Add(node.SchemaObject.BaseIdentifier.Value.ToUpperInvariant());

        public override void Visit(OutputClause node) => BareOutputClauses++;

        public override void Visit(TopRowFilter node) => TopFilters++;

        public override void Visit(ThrowStatement node) => Throws++;

        public override void Visit(InPredicate node)
        {
            // Dapper's list syntax "IN @Ids" parses as IN over a subquery-less value list or a variable.
            InPredicatesOnParameters++;
        }
    }
}
