using GenevaDrive.Testing;

namespace GenevaDrive.Tests.Storage;

/// <summary>Every built-in storage passes the conformance suite that GenevaDrive.Hangfire.Testing ships for storage authors.</summary>
public sealed class PackagedConformanceTests(string database) : StorageTestBase(database)
{
    protected override bool InstallSchema => false;

    [Test]
    public async Task BuiltInStorage_PassesThePackagedConformanceSuite()
    {
        var passed = await StorageConformance.RunAsync(Db.Dialect);

        TestContext.Out.WriteLine($"{Database}: {string.Join("; ", passed)}");
        Assert.That(passed, Has.Count.EqualTo(11));
    }
}
