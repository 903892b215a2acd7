using GenevaDrive.PostgreSql;
using GenevaDrive.Registration;
using GenevaDrive.SqlServer;
using GenevaDrive.Storage;
using GenevaDrive.Tests.Server;
using Moq;

namespace GenevaDrive.Tests.Registration;

/// <summary>The start-up check of the connection pool against the sizing rule: 2 per Hangfire worker + 4.</summary>
public sealed class PoolSizeTests
{
    private static (int? Needed, List<string> Logged) Check(int? maxPoolSize, int workers)
    {
        var dialect = new Mock<SqlDialect> { CallBase = true };
        dialect.SetupGet(d => d.MaxPoolSize).Returns(maxPoolSize);
        dialect.SetupGet(d => d.Name).Returns("PostgreSQL");
        var logs = new CapturingLoggerProvider();
        var needed = GenevaDriveRuntime.CheckPoolSize(dialect.Object, new global::Hangfire.BackgroundJobServerOptions { WorkerCount = workers },
            logs.CreateLogger("runtime"));
        return (needed, logs.Entries.Select(e => e.Message).ToList());
    }

    [Test]
    public void APoolBelowTheRule_IsReportedAtStartUp_WithTheNumbersAndTheFix()
    {
        var (needed, logged) = Check(maxPoolSize: 10, workers: 8);

        Assert.Multiple(() =>
        {
            Assert.That(needed, Is.EqualTo(20));
            Assert.That(logged.Single(), Does.Contain("opens at most 10 connection(s)").And.Contain("needs about 20").And.Contain("(8)")
                .And.Contain("Raise Max Pool Size"));
        });
    }

    [TestCase(20, 8)]
    [TestCase(100, 20)]
    public void APoolAtOrAboveTheRule_IsNotReported(int maxPoolSize, int workers) =>
        Assert.That(Check(maxPoolSize, workers).Logged, Is.Empty);

    [Test]
    public void AnUnknownPoolSize_IsNotChecked() =>
        Assert.That(Check(null, 50), Is.EqualTo(((int?)null, new List<string>())));

    [Test]
    public void TheDialects_ReadTheirPoolSizeFromTheConnectionString()
    {
        using var postgres = new PostgreSqlDialect("Host=localhost;Maximum Pool Size=7", new PostgreSqlWorkflowStorageOptions());
        using var unpooled = new PostgreSqlDialect("Host=localhost;Pooling=false", new PostgreSqlWorkflowStorageOptions());
        using var sqlServer = new SqlServerDialect("Server=localhost;Max Pool Size=9", new SqlServerWorkflowStorageOptions());
        using var sqlServerDefault = new SqlServerDialect("Server=localhost", new SqlServerWorkflowStorageOptions());

        Assert.Multiple(() =>
        {
            Assert.That(postgres.MaxPoolSize, Is.EqualTo(7));
            Assert.That(unpooled.MaxPoolSize, Is.Null);
            Assert.That(sqlServer.MaxPoolSize, Is.EqualTo(9));
            Assert.That(sqlServerDefault.MaxPoolSize, Is.EqualTo(100));
        });
    }
}
