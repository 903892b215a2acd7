using GenevaDrive.Storage;

namespace GenevaDrive.Tests.Storage;

public sealed class SchemaInstallerTests(string database) : StorageTestBase(database)
{
    private const int LatestVersion = 2;

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
        var old = await StartAsync("old", firstStep: null);

        await Db.InstallAsync();

        var (created, claim) = await StartAndClaimAsync("new");
        Assert.Multiple(async () =>
        {
            Assert.That(before, Is.EqualTo(1));
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(LatestVersion));
            Assert.That((await WorkflowAsync(old.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That((await ExecutionAsync(claim.Execution!.Id)).LeaseToken, Is.Not.Null);
            Assert.That(created.Workflow.Id, Is.GreaterThan(old.Workflow.Id));
        });
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
