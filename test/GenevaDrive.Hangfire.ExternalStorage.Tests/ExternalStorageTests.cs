using GenevaDrive;
using GenevaDrive.Storage;
using GenevaDrive.Testing;

namespace ExternalStorage.Tests;

public sealed record Order(string Id);

[WorkflowName("ship_order")]
public sealed class ShipOrderWorkflow : Workflow<Order>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("pack", () => Task.CompletedTask);
        steps.Step("ship", () => Task.CompletedTask, wait: TimeSpan.FromHours(1));
    }
}

/// <summary>A storage outside the solution's internals passes the packaged conformance suite and runs workflows.</summary>
public sealed class ExternalStorageTests
{
    private string _file = null!;

    [SetUp]
    public void CreateFile() => _file = Path.Combine(Path.GetTempPath(), $"genevadrive-external-{Guid.NewGuid():N}.db");

    [TearDown]
    public void DeleteFile()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var path in new[] { _file, _file + "-wal", _file + "-shm" })
        {
            File.Delete(path);
        }
    }

    [Test]
    public async Task WrappedDialect_PassesThePackagedConformanceSuite()
    {
        using var dialect = new WrappedSqliteDialect($"Data Source={_file}");

        var passed = await StorageConformance.RunAsync(dialect);

        Assert.Multiple(() =>
        {
            Assert.That(passed, Has.Count.GreaterThanOrEqualTo(8));
            Assert.That(dialect.ConnectionsOpened, Is.GreaterThan(0), "the suite ran through the wrapper");
        });
    }

    [Test]
    public async Task WrappedDialect_RunsAWorkflowToTheEnd()
    {
        await using var host = WorkflowTestHost.Create(o => o
            .UseStorage("wrapped SQLite", () => new WrappedSqliteDialect($"Data Source={_file}"))
            .AddWorkflow<ShipOrderWorkflow>()
            .AddHero<Order>(order => order.Id, (_, id, _) => Task.FromResult<Order?>(new Order(id))));
        var workflow = await host.Client.StartAsync<ShipOrderWorkflow>(new Order("o-1"));

        var runs = await host.RunToEndAsync(workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(runs.Select(r => r.StepName), Is.EqualTo(new[] { "pack", "ship" }));
            Assert.That((await host.Client.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public void StorageBuiltForAnotherContract_IsRefusedAtStartUp_WithTheFix()
    {
        var error = Assert.Throws<InvalidOperationException>(() => WorkflowTestHost.Create(o => o
            .UseStorage("old", () => new WrappedSqliteDialect($"Data Source={_file}", contractVersion: StorageContract.Version - 1))
            .AddWorkflow<ShipOrderWorkflow>()
            .AddHero<Order>(order => order.Id, (_, id, _) => Task.FromResult<Order?>(new Order(id)))));

        Assert.That(error!.Message, Does.Contain($"implements GenevaDrive storage contract {StorageContract.Version - 1}")
            .And.Contain($"needs contract {StorageContract.Version}").And.Contain("Use the storage package of the same version"));
    }

    [Test]
    public void ConformanceSuite_ReportsABrokenStorage()
    {
        using var broken = new UniqueBlindDialect($"Data Source={_file}");

        var error = Assert.ThrowsAsync<StorageConformanceException>(() => StorageConformance.RunAsync(broken));

        Assert.That(error!.Failures, Has.Some.Contains("a second ongoing one for the hero is refused: SqliteException"), "the storage let the unique violation escape as an error");
    }

    /// <summary>A storage that does not recognise unique-index violations: the suite must catch it.</summary>
    private sealed class UniqueBlindDialect(string connectionString) : SqlDialect
    {
        private readonly WrappedSqliteDialect _inner = new(connectionString);

        public override int ContractVersion => StorageContract.Version;

        public override string Name => "unique-blind SQLite";

        public override StorageStatements Sql => _inner.Sql;

        public override bool PrepareSchemaIfNecessary => true;

        public override System.Data.Common.DbConnection CreateConnection() => _inner.CreateConnection();

        public override Task<System.Data.Common.DbTransaction> BeginTransactionAsync(System.Data.Common.DbConnection connection, CancellationToken ct) =>
            _inner.BeginTransactionAsync(connection, ct);

        public override bool IsUniqueViolation(Exception exception) => false;

        protected override bool IsTransientFault(Exception exception) => false;

        public override Task InstallSchemaAsync(CancellationToken ct) => _inner.InstallSchemaAsync(ct);

        public override void Dispose() => _inner.Dispose();
    }
}
