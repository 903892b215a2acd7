using System.Reflection;
using System.Runtime.CompilerServices;
using GenevaDrive.Testing;

namespace GenevaDrive.Tests.Layout;

/// <summary>
/// The shipped packages use each other's public surface only: no package sees another's internals, so a user who
/// updates one package without the others gets a compile or start-up error, never a MissingMethodException.
/// </summary>
public sealed class PackageBoundaryTests
{
    private static readonly string[] TestAssemblies = ["GenevaDrive.Hangfire.Tests", "GenevaDrive.Hangfire.CrashWorker", "GenevaDrive.Hangfire.Benchmarks", "DynamicProxyGenAssembly2"];

    [TestCase(typeof(IWorkflowClient), TestName = "Core")]
    [TestCase(typeof(WorkflowTestHost), TestName = "Testing")]
    [TestCase(typeof(GenevaDriveSqliteExtensions), TestName = "Sqlite")]
    [TestCase(typeof(GenevaDrivePostgreSqlExtensions), TestName = "PostgreSql")]
    [TestCase(typeof(GenevaDriveSqlServerExtensions), TestName = "SqlServer")]
    public void APackagesInternals_AreVisibleToTestsOnly(Type inPackage)
    {
        var friends = inPackage.Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName.Split(',')[0]).ToList();

        Assert.That(friends.Except(TestAssemblies), Is.Empty, $"{inPackage.Assembly.GetName().Name} shows its internals to another package");
    }

    [Test]
    public void TheTestingPackage_ForwardsWhatMovedToTheCore()
    {
        var forwarded = typeof(WorkflowTestHost).Assembly.GetForwardedTypes();

        Assert.That(forwarded, Is.SupersetOf(new[] { typeof(StepRunResult), typeof(HousekeepingResult), typeof(StorageConformance), typeof(StorageConformanceException) }));
    }
}
