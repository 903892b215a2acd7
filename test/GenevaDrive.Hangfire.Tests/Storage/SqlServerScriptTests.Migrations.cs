using GenevaDrive.SqlServer;
using Microsoft.SqlServer.TransactSql.ScriptDom;

namespace GenevaDrive.Tests.Storage;

// The migration rules that keep an upgrade of a large SQL Server database online: index builds on tables that hold rows are
// online and resumable with an offline fallback, added columns are nullable, and the installer's lock is its session's.
public sealed partial class SqlServerScriptTests
{
    [Test]
    public void InstallersSessionLock_IsTheSameResource_AndReleasedAsTheSessions()
    {
        var take = SqlServerDialect.AcquireInstallLock("Tenant_A", "Session");
        var release = SqlServerDialect.ReleaseInstallLock("Tenant_A");

        Assert.Multiple(() =>
        {
            Assert.That(take, Does.Contain("@LockOwner = N'Session'").And.Contain("N'GenevaDrive:Install:Tenant_A'"));
            Assert.That(SqlServerDialect.AcquireInstallLock("Tenant_A"), Does.Contain("@LockOwner = N'Transaction'"), "the DBA script's lock ends with its transaction");
            Assert.That(release, Does.Contain("@LockOwner = N'Session'").And.Contain("N'GenevaDrive:Install:Tenant_A'"));
        });
    }

    /// <summary>The tables each migration creates (an index on one of those is built while it is still empty).</summary>
    private static HashSet<string> TablesCreatedBy(IReadOnlyList<string> statements) =>
        statements.SelectMany(statement => Collect(statement, new CreatedTables()).Names).ToHashSet(StringComparer.OrdinalIgnoreCase);

    [Test]
    public void IndexesOnTablesThatHoldRows_AreBuiltOnlineAndResumable_WithAnOfflineFallback()
    {
        var migrations = SqlServerDialect.LoadScript(Schema).Migrations;
        var offline = new List<string>();
        var online = new List<string>();
        foreach (var migration in migrations.Where(m => m.Version > 1))
        {
            var created = TablesCreatedBy(migration.Statements);
            foreach (var statement in migration.Statements)
            {
                var indexed = Collect(statement, new IndexedTables()).Names;
                if (indexed.Count == 0 || indexed.All(created.Contains))
                {
                    continue;
                }

                if (SqlServerDialect.IsOnlineIndexBuild(statement))
                {
                    online.Add($"migration {migration.Version}");
                    // The build is dynamic SQL, so a server whose parser lacks RESUMABLE never compiles it: each form must parse.
                    foreach (var form in OnlineBuildForms(statement))
                    {
                        Parse(form, out var errors);
                        Assert.That(errors, Is.Empty, $"migration {migration.Version}: {Describe(errors)}\n{form}");
                    }

                    Assert.Multiple(() =>
                    {
                        Assert.That(statement, Does.Contain("SERVERPROPERTY('EngineEdition')"), "online only where the edition can");
                        Assert.That(statement, Does.Contain("@@TRANCOUNT = 0"), "resumable only outside a transaction (the DBA script's migrations run in one)");
                        Assert.That(statement, Does.Contain("sys.index_resumable_operations").And.Contain(" RESUME;"), "a build that stopped half-way is resumed");
                        Assert.That(statement, Does.Contain("ELSE N';'"), "offline elsewhere");
                        Assert.That(statement, Does.Contain("ELSE IF NOT EXISTS (SELECT 1 FROM sys.indexes"), "re-running it is a no-op");
                    });
                }
                else if (migration.Version != 4)
                {
                    offline.Add($"migration {migration.Version}: {statement}");
                }
            }
        }

        Assert.Multiple(() =>
        {
            // Migration 4 retypes the indexed columns themselves: its rebuilds run under the ALTER COLUMN's schema lock anyway.
            Assert.That(offline, Is.Empty, "index builds on tables that already hold rows, built offline in the migration's transaction");
            Assert.That(online, Is.EqualTo(new[] { "migration 2", "migration 8", "migration 11", "migration 11", "migration 11" }));
        });
    }

    /// <summary>The statements an online build may run: the resumable, online and offline CREATE INDEX, and the RESUME.</summary>
    private static IEnumerable<string> OnlineBuildForms(string statement)
    {
        var create = System.Text.RegularExpressions.Regex.Match(statement, @"@build nvarchar\(\d+\) = N'(CREATE (?:UNIQUE )?NONCLUSTERED INDEX [^']*)'").Groups[1].Value;
        var resume = System.Text.RegularExpressions.Regex.Match(statement, @"EXEC \(N'(ALTER INDEX [^']*)'\);").Groups[1].Value;
        Assert.That(create, Is.Not.Empty, statement);
        Assert.That(resume, Is.Not.Empty, statement);
        return [create + " WITH (ONLINE = ON, RESUMABLE = ON);", create + " WITH (ONLINE = ON);", create + ";", resume];
    }

    [Test]
    public void ColumnsAddedToTablesThatHoldRows_AreNullable_SoNoEditionRewritesTheTable()
    {
        var notNull = new List<string>();
        foreach (var migration in SqlServerDialect.LoadScript(Schema).Migrations.Where(m => m.Version > 1))
        {
            foreach (var statement in migration.Statements)
            {
                notNull.AddRange(Collect(statement, new AddedColumns()).NotNull.Select(column => $"migration {migration.Version}: {column}"));
            }
        }

        Assert.That(notNull, Is.Empty, "NOT NULL columns added to existing tables (a size-of-data rewrite outside Enterprise edition)");
    }

    private sealed class CreatedTables : TSqlFragmentVisitor
    {
        public List<string> Names { get; } = [];

        public override void Visit(CreateTableStatement node) => Names.Add(node.SchemaObjectName.BaseIdentifier.Value);
    }

    private sealed class IndexedTables : TSqlFragmentVisitor
    {
        public List<string> Names { get; } = [];

        public override void Visit(CreateIndexStatement node) => Names.Add(node.OnName.BaseIdentifier.Value);

        // An index built through dynamic SQL names its table in the string.
        public override void Visit(StringLiteral node)
        {
            var match = System.Text.RegularExpressions.Regex.Match(node.Value, @"^CREATE (?:UNIQUE )?NONCLUSTERED INDEX \[[^\]]+\] ON \[[^\]]+\]\.\[([^\]]+)\]");
            if (match.Success)
            {
                Names.Add(match.Groups[1].Value);
            }
        }
    }

    private sealed class AddedColumns : TSqlFragmentVisitor
    {
        public List<string> NotNull { get; } = [];

        public override void Visit(AlterTableAddTableElementStatement node)
        {
            foreach (var column in node.Definition.ColumnDefinitions)
            {
                if (column.Constraints.OfType<NullableConstraintDefinition>().Any(c => !c.Nullable))
                {
                    NotNull.Add(column.ColumnIdentifier.Value);
                }
            }
        }
    }
}
