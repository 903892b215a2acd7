using GenevaDrive.SqlServer;
using GenevaDrive.Storage;
using Microsoft.SqlServer.TransactSql.ScriptDom;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// No SQL Server runs on our machines, so every T-SQL statement is parsed with Microsoft's own parser:
/// a typo, a missing bracket or PostgreSQL syntax would fail here.
/// </summary>
public sealed class SqlServerScriptTests
{
    private static IEnumerable<TestCaseData> RuntimeStatements() =>
        typeof(StorageStatements).GetProperties()
            .Select(p => new TestCaseData(p.Name, (string)p.GetValue(SqlServerDialect.BuildStatements("GenevaDrive"))!)
                .SetName($"RuntimeStatement_Parses({p.Name})"));

    private static IEnumerable<TestCaseData> InstallerStatements()
    {
        var schema = "GenevaDrive";
        var all = SqlServerDialect.LoadScript(schema).Migrations.SelectMany(m => m.Statements.Select((s, i) => ($"migration {m.Version} #{i + 1}", s)))
            .Concat(SqlServerDialect.Preamble(schema).Select((s, i) => ($"preamble #{i + 1}", s)))
            .Append(("record version", SqlServerDialect.RecordVersion(schema, "@version")))
            .Append(("install lock", SqlServerDialect.AcquireInstallLock))
            .Append(("select version", SqlServerDialect.SelectVersion(schema)));
        return all.Select(x => new TestCaseData(x.Item1, x.Item2).SetName($"InstallerStatement_Parses({x.Item1})"));
    }

    private static IList<ParseError> Parse(string sql, out TSqlFragment fragment)
    {
        var parser = new TSql160Parser(initialQuotedIdentifiers: true);
        fragment = parser.Parse(new StringReader(sql), out var errors);
        return errors;
    }

    private static string Describe(IList<ParseError> errors) =>
        string.Join("; ", errors.Select(e => $"line {e.Line} col {e.Column}: {e.Message}"));

    [TestCaseSource(nameof(RuntimeStatements))]
    public void RuntimeStatement_Parses(string name, string sql)
    {
        var errors = Parse(sql, out _);

        Assert.That(errors, Is.Empty, $"{name}: {Describe(errors)}\n{sql}");
    }

    [TestCaseSource(nameof(InstallerStatements))]
    public void InstallerStatement_Parses(string name, string sql)
    {
        var errors = Parse(sql, out _);

        Assert.That(errors, Is.Empty, $"{name}: {Describe(errors)}\n{sql}");
    }

    [Test]
    public void WholeInstallScriptForDbas_Parses_WithGoSeparators()
    {
        var script = SqlServerWorkflowSchema.GetInstallScript("Custom_Schema");

        var errors = Parse(script, out var fragment);

        Assert.Multiple(() =>
        {
            Assert.That(errors, Is.Empty, Describe(errors));
            Assert.That(((TSqlScript)fragment).Batches, Has.Count.GreaterThan(10));
            Assert.That(script, Does.Contain("[Custom_Schema].[StepExecutions]").And.Not.Contain("{S}"));
            Assert.That(SqlServerWorkflowSchema.LatestVersion, Is.EqualTo(3));
        });
    }

    [TestCase(nameof(StorageStatements.LockWorkflow))]
    [TestCase(nameof(StorageStatements.LockStepExecution))]
    [TestCase(nameof(StorageStatements.LockActiveStepExecution))]
    public void LockingStatements_UseUpdateAndRowLockHints(string name)
    {
        var sql = (string)typeof(StorageStatements).GetProperty(name)!.GetValue(SqlServerDialect.BuildStatements("GenevaDrive"))!;
        Parse(sql, out var fragment);
        var hints = new HintCollector();

        fragment.Accept(hints);

        Assert.That(hints.Kinds, Is.SupersetOf(new[] { TableHintKind.UpdLock, TableHintKind.Rowlock }));
    }

    [Test]
    public void RuntimeStatements_UseOnlyParametersAndTheValidatedSchema()
    {
        var statements = SqlServerDialect.BuildStatements("Sch");

        foreach (var property in typeof(StorageStatements).GetProperties())
        {
            var sql = (string)property.GetValue(statements)!;
            Assert.That(sql, Does.Contain("[Sch].["), property.Name);
        }
    }

    private sealed class HintCollector : TSqlFragmentVisitor
    {
        public List<TableHintKind> Kinds { get; } = [];

        public override void Visit(TableHint node) => Kinds.Add(node.HintKind);
    }
}
