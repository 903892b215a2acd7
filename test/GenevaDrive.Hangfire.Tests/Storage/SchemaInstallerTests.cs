using GenevaDrive.Storage;

namespace GenevaDrive.Tests.Storage;

public sealed class SchemaInstallerTests(string database) : StorageTestBase(database)
{
    private const int LatestVersion = 9;

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
        await Db.CreateDialect(prepareSchema: false).PrepareAsync(CancellationToken.None);
        var whenOff = await Db.GetSchemaVersionAsync();

        await Db.CreateDialect(prepareSchema: true).PrepareAsync(CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(whenOff, Is.Zero);
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
        });
    }

    [Test]
    public async Task Uninstalled_ReportsVersionZero() =>
        Assert.That(await Db.GetSchemaVersionAsync(), Is.Zero);
}
