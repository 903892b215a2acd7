using GenevaDrive.PostgreSql;
using GenevaDrive.Sqlite;
using GenevaDrive.SqlServer;
using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// The typed storage contract, checked without a database: every statement of every built-in dialect carries exactly the
/// parameters its text uses, each with one kind; a dialect cannot rewrite a statement to take other parameters; and the
/// store cannot run a statement without a value for each of them.
/// </summary>
public sealed class StorageContractTests
{
    private static IEnumerable<TestCaseData> Dialects()
    {
        yield return new TestCaseData((Func<SqlDialect>)(() => new SqliteDialect("Data Source=contract.db", new SqliteWorkflowStorageOptions()))).SetArgDisplayNames("SQLite");
        yield return new TestCaseData((Func<SqlDialect>)(() => new PostgreSqlDialect("Host=localhost", new PostgreSqlWorkflowStorageOptions()))).SetArgDisplayNames("PostgreSQL");
        yield return new TestCaseData((Func<SqlDialect>)(() => new SqlServerDialect("Server=localhost", new SqlServerWorkflowStorageOptions()))).SetArgDisplayNames("SQL Server");
    }

    [TestCaseSource(nameof(Dialects))]
    public void EveryStatement_TakesExactlyTheParametersItsTextUses_UnderItsOwnName(Func<SqlDialect> create)
    {
        using var dialect = create();
        var problems = new List<string>();
        foreach (var property in typeof(StorageStatements).GetProperties())
        {
            var statements = property.GetValue(dialect.Sql) switch
            {
                SqlStatement one => [one],
                SqlStatement[] many => many,
                _ => Array.Empty<SqlStatement>(),
            };
            foreach (var statement in statements)
            {
                var used = SqlStatement.NamesIn(statement.Text).Order().ToList();
                var declared = statement.Parameters.Select(p => p.Name).Order().ToList();
                if (!used.SequenceEqual(declared))
                {
                    problems.Add($"{property.Name}: text uses [{string.Join(", ", used)}], declares [{string.Join(", ", declared)}]");
                }

                if (statement.Name != property.Name)
                {
                    problems.Add($"{property.Name} holds statement {statement.Name}");
                }

                if (string.IsNullOrWhiteSpace(statement.Text))
                {
                    problems.Add($"{property.Name} has no text");
                }
            }
        }

        Assert.That(problems, Is.Empty);
        Assert.That(dialect.Sql.All().Count(), Is.GreaterThan(45), "every statement was looked at");
    }

    [Test]
    public void ADialectsOwnText_MustTakeTheStatementsParameters_NoMoreNoFewer()
    {
        using var dialect = new SqliteDialect("Data Source=contract.db", new SqliteWorkflowStorageOptions());
        var statement = dialect.Sql.LockEndedWorkflowIds;

        var missing = Assert.Throws<ArgumentException>(() => statement.WithText("SELECT \"Id\" FROM \"W\" WHERE \"TransitionedAt\" < @Cutoff;"))!;
        var extra = Assert.Throws<ArgumentException>(() =>
            statement.WithText("SELECT \"Id\" FROM \"W\" WHERE \"TransitionedAt\" < @Cutoff AND \"Type\" = @Type LIMIT @Limit;"))!;
        var same = statement.WithText("SELECT \"Id\" FROM \"W\" WHERE \"TransitionedAt\" < @Cutoff ORDER BY \"Id\" LIMIT @Limit;");

        Assert.Multiple(() =>
        {
            Assert.That(missing.Message, Does.Contain("LockEndedWorkflowIds").And.Contain("missing: @Limit"));
            Assert.That(extra.Message, Does.Contain("not declared: @Type"));
            Assert.That(same.Parameters, Is.EqualTo(statement.Parameters), "the same parameters, with their kinds");
            Assert.That(same.Parameters.Select(p => p.Kind), Is.EqualTo(new[] { SqlValueKind.Time, SqlValueKind.Number }));
        });
    }

    [Test]
    public void Build_RefusesAStatementNoDialectWrote()
    {
        var flavor = new SqlFlavor
        {
            Workflows = "\"W\"", Executions = "\"E\"", Events = "\"V\"", Operations = "\"O\"", ReturnsId = " RETURNING \"Id\";",
            NotAllowMultiple = "\"AllowMultiple\" = 0", Page = "LIMIT @Limit OFFSET @Offset", InIds = "IN @Ids", Now = "now()",
        };

        var error = Assert.Throws<InvalidOperationException>(() => SqlTemplate.Build(flavor, shared => shared))!;

        Assert.That(error.Message, Does.Contain("LockEndedWorkflowIds").And.Contain("WithText"));
    }

    [Test]
    public void TheStore_CannotRunAStatementWithoutAValueForEachParameter()
    {
        using var dialect = new SqliteDialect("Data Source=contract.db", new SqliteWorkflowStorageOptions());

        var error = Assert.Throws<InvalidOperationException>(() =>
            StatementBinder.Bind(dialect, dialect.Sql.Heartbeat, new { Id = 1L, LeaseToken = "t", Now = DateTime.UtcNow, LeaseExpiresAt = DateTime.UtcNow }))!;
        var bound = StatementBinder.Bind(dialect, dialect.Sql.SelectWorkflow, new { Id = 7L, Unrelated = "ignored" });

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("Heartbeat").And.Contain("@Cursor"));
            Assert.That(bound.ParameterNames, Is.EqualTo(new[] { "Id" }), "only what the statement takes");
        });
    }
}
