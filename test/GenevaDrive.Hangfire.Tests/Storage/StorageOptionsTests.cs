using GenevaDrive.Storage;
using GenevaDrive.Store;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Tests.Storage;

public sealed class StorageOptionsTests
{
    private static readonly string[] BadNames = ["my schema", "x;DROP TABLE Workflows", "a\"b", "a]b", "dbo.x", "", "1starts_with_digit", new string('a', 64)];

    [TestCaseSource(nameof(BadNames))]
    public void SqlServerSchemaName_WithUnsafeCharacters_IsRejected(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => new SqlServerWorkflowStorageOptions { SchemaName = name })!;

        Assert.That(error.Message, Does.Contain("SchemaName must start with a letter or underscore").And.Contain($"Given: '{name}'"));
    }

    [TestCaseSource(nameof(BadNames))]
    public void PostgreSqlSchemaName_WithUnsafeCharacters_IsRejected(string name) =>
        Assert.Throws<ArgumentException>(() => new PostgreSqlWorkflowStorageOptions { SchemaName = name });

    [TestCase("a b")]
    [TestCase("x;")]
    [TestCase("q\"")]
    public void SqliteTablePrefix_WithUnsafeCharacters_IsRejected(string prefix)
    {
        var error = Assert.Throws<ArgumentException>(() => new SqliteWorkflowStorageOptions { TablePrefix = prefix })!;

        Assert.That(error.Message, Does.Contain("TablePrefix may contain only letters, digits and underscores"));
    }

    [Test]
    public void Defaults_AreDocumentedValues()
    {
        Assert.Multiple(() =>
        {
            Assert.That(new SqlServerWorkflowStorageOptions().SchemaName, Is.EqualTo("GenevaDrive"));
            Assert.That(new PostgreSqlWorkflowStorageOptions().SchemaName, Is.EqualTo("genevadrive"));
            Assert.That(new SqliteWorkflowStorageOptions().TablePrefix, Is.EqualTo("GenevaDrive_"));
            Assert.That(new SqliteWorkflowStorageOptions { TablePrefix = "" }.TablePrefix, Is.Empty);
            Assert.That(new SqlServerWorkflowStorageOptions().PrepareSchemaIfNecessary, Is.True);
        });
    }

    [Test]
    public void InstallScriptsForDbas_FillInTheNameAndRefuseBadOnes()
    {
        Assert.Multiple(() =>
        {
            Assert.That(PostgreSqlWorkflowSchema.GetInstallScript("tenant_a"), Does.Contain("\"tenant_a\".\"Workflows\"").And.Not.Contain("{S}"));
            Assert.That(SqliteWorkflowSchema.GetInstallScript("app_"), Does.Contain("\"app_StepExecutions\"").And.Not.Contain("{P}"));
            Assert.That(PostgreSqlWorkflowSchema.LatestVersion, Is.EqualTo(SqliteWorkflowSchema.LatestVersion));
            Assert.Throws<ArgumentException>(() => PostgreSqlWorkflowSchema.GetInstallScript("x; drop"));
        });
    }

    [Test]
    public void SchemaScript_RequiresConsecutiveMigrations()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SchemaScript.Parse("-- @migration 1\nSELECT 1;\n-- @migration 3\nSELECT 3;"))!;

        Assert.That(error.Message, Does.Contain("found 3 after 1"));
    }

    [Test]
    public void SchemaScript_SplitsStatementsOnGoLines()
    {
        var script = SchemaScript.Parse("-- header\n-- @migration 1\nA;\nGO\nB;\n-- @migration 2\nC;\n");

        Assert.Multiple(() =>
        {
            Assert.That(script.Migrations.Select(m => m.Version), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(script.Migrations[0].Statements, Is.EqualTo(new[] { "A;", "B;" }));
            Assert.That(script.LatestVersion, Is.EqualTo(2));
        });
    }

    [Test]
    public void Metadata_WithUnexpectedShapes_ReadsAsEmptyOrPartial()
    {
        Assert.Multiple(() =>
        {
            Assert.That(StepExecutionMetadata.Parse("[1,2]").IsEmpty, Is.True);
            Assert.That(StepExecutionMetadata.Parse("\"text\"").IsEmpty, Is.True);
            Assert.That(StepExecutionMetadata.Parse(null).IsEmpty, Is.True);
            Assert.That(StepExecutionMetadata.Parse("{\"reattempt_reason\": 5}").ReattemptReason, Is.Null);
            Assert.That(StepExecutionMetadata.Parse("{\"exception\": \"not an object\"}").ExceptionClass, Is.Null);
            Assert.That(StepExecutionMetadata.Parse("{\"other\": 1, \"reattempt_reason\": \"flow_control\"}").ReattemptReason,
                Is.EqualTo("flow_control"));
        });
    }

    [Test]
    public void PostgreSql_PreparesStatementsAndSkipsThePoolReset_UnlessTheConnectionStringSaysOtherwise()
    {
        using var defaults = new GenevaDrive.PostgreSql.PostgreSqlDialect("Host=localhost", new PostgreSqlWorkflowStorageOptions());
        using var chosen = new GenevaDrive.PostgreSql.PostgreSqlDialect("Host=localhost;Max Auto Prepare=0", new PostgreSqlWorkflowStorageOptions());
        var byDefault = new Npgsql.NpgsqlConnectionStringBuilder(defaults.ConnectionString);
        var byUser = new Npgsql.NpgsqlConnectionStringBuilder(chosen.ConnectionString);

        Assert.Multiple(() =>
        {
            Assert.That(byDefault.MaxAutoPrepare, Is.EqualTo(32));
            Assert.That(byDefault.NoResetOnClose, Is.True);
            Assert.That(byDefault.Enlist, Is.False);
            Assert.That(byUser.MaxAutoPrepare, Is.Zero, "behind a pooler without prepared statements the user turns it off");
        });
    }

    [Test]
    public void PostgreSql_RecordsTheJobIdInATransactionOfItsOwn_WithoutWaitingForTheWalFlush()
    {
        using var postgres = new GenevaDrive.PostgreSql.PostgreSqlDialect("Host=localhost", new PostgreSqlWorkflowStorageOptions());
        var sql = postgres.Sql.SetStepExecutionJobId.Text;

        // SET LOCAL ends with its transaction: the relaxed commit cannot leak into the pooled connection's next use.
        Assert.That(sql, Does.StartWith("BEGIN; SET LOCAL synchronous_commit TO OFF; UPDATE ").And.EndWith(" COMMIT;"));
        Assert.That(new GenevaDrive.Sqlite.SqliteDialect("Data Source=x.db", new SqliteWorkflowStorageOptions()).Sql.SetStepExecutionJobId.Text,
            Does.StartWith("UPDATE "), "no other database relaxes anything");
    }

    [Test]
    public void CommandTimeout_MustBePositive_AndReachesEveryDialect()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new PostgreSqlWorkflowStorageOptions { CommandTimeout = TimeSpan.Zero })!;
        using var sqlite = new GenevaDrive.Sqlite.SqliteDialect("Data Source=x.db", new SqliteWorkflowStorageOptions { CommandTimeout = TimeSpan.FromSeconds(4.2) });
        using var postgres = new GenevaDrive.PostgreSql.PostgreSqlDialect("Host=localhost", new PostgreSqlWorkflowStorageOptions { CommandTimeout = TimeSpan.FromSeconds(7) });
        using var sqlServer = new GenevaDrive.SqlServer.SqlServerDialect("Server=localhost", new SqlServerWorkflowStorageOptions());

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("CommandTimeout must be positive").And.Contain("Given: 00:00:00"));
            Assert.That(sqlite.CommandTimeoutSeconds, Is.EqualTo(5), "rounded up to whole seconds");
            Assert.That(postgres.CommandTimeoutSeconds, Is.EqualTo(7));
            Assert.That(sqlServer.CommandTimeoutSeconds, Is.Null, "the provider's default");
        });
    }
}
