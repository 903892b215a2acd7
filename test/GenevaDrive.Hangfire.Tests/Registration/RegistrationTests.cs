using GenevaDrive.Server;
using GenevaDrive.Tests.Definition;
using GenevaDrive.Tests.Execution;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Registration;

[NonParallelizable]
public sealed class RegistrationTests
{
    private string _file = null!;

    private string ConnectionString => $"Data Source={_file}";

    [SetUp]
    public void SetUp() => _file = Path.Combine(Path.GetTempPath(), $"genevadrive-reg-{Guid.NewGuid():N}.db");

    [TearDown]
    public void TearDown()
    {
        foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is WorkflowStepFilter).ToList())
        {
            GlobalJobFilters.Filters.Remove(filter.Instance);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_file);
    }

    [Test]
    public void InvalidOptions_AreReportedTogether()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddGenevaDrive(o =>
        {
            o.LeaseTimeout = TimeSpan.Zero;
            o.HousekeepingBatchSize = 0;
            o.DeleteCompletedWorkflowsAfter = TimeSpan.FromDays(-1);
        }))!;

        Assert.That(error.Message, Does.StartWith("GenevaDrive options are invalid:")
            .And.Contain("No storage is configured: call options.UseSqlServer")
            .And.Contain("LeaseTimeout must be at least 1 second. Given: 00:00:00.")
            .And.Contain("HousekeepingBatchSize must be between 1 and 2000. Given: 0.")
            .And.Contain("DeleteCompletedWorkflowsAfter must be positive"));
    }

    [Test]
    public async Task AWorkflowWhoseHeroTypeHasNoLoader_IsReportedAtStartUp_NamingTheRegistration()
    {
        var logs = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        await using var provider = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(logs))
            .AddSingleton(new AccountDirectory())
            .AddSingleton<Probe>()
            .AddGenevaDrive(o => o.UseSqlite(ConnectionString)
                .AddWorkflow<MemberWelcomeWorkflow>()
                .AddWorkflow<ThreeStepWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)))
            .BuildServiceProvider();

        await provider.GetRequiredService<GenevaDrive.Registration.GenevaDriveRuntime>().EnsureInitializedAsync(CancellationToken.None);

        var warnings = logs.Entries.Select(e => e.Message).Where(m => m.Contains("no hero loader", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(warnings, Has.Count.EqualTo(1), "one warning, for the workflow whose hero type has no loader");
            Assert.That(warnings.Single(), Does.Contain("'member_welcome'").And.Contain("GenevaDrive.Tests.Execution.Member")
                .And.Contain("options.AddHero<Member>(").And.Contain("IHeroLoader<Member>"));
        });
    }

    [TestCase(true, null, TestName = "MissingHeroLoader_FailsStartUp_WhenAskedTo")]
    [TestCase(null, "Development", TestName = "MissingHeroLoader_FailsStartUp_InDevelopment")]
    public async Task AMissingHeroLoader_FailsStartUp_ListingEachWorkflow(bool? failOnMissing, string? environment)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<Probe>()
            .AddGenevaDrive(o =>
            {
                o.UseSqlite(ConnectionString).AddWorkflow<MemberWelcomeWorkflow>().AddWorkflow<ThreeStepWorkflow>();
                o.FailOnMissingHeroLoaders = failOnMissing;
            });
        if (environment is not null)
        {
            services.AddSingleton<IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = environment });
        }

        await using var provider = services.BuildServiceProvider();
        var runtime = provider.GetRequiredService<GenevaDrive.Registration.GenevaDriveRuntime>();

        var error = Assert.ThrowsAsync<StepConfigurationException>(() => runtime.EnsureInitializedAsync(CancellationToken.None))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Errors, Has.Count.EqualTo(2), "each workflow without a loader, listed");
            Assert.That(error.Message, Does.Contain("'member_welcome'").And.Contain("options.AddHero<Member>(").And.Contain("'three_steps'"));
        });
    }

    [Test]
    public void ChoosingTwoStorages_IsRefused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new GenevaDriveOptions().UseSqlite(ConnectionString).UsePostgreSql("Host=x"))!;

        Assert.That(error.Message, Does.Contain("already configured (SQLite)"));
    }

    [Test]
    public void AddGenevaDriveTwice_IsRefused()
    {
        var services = new ServiceCollection().AddGenevaDrive(o => o.UseSqlite(ConnectionString));

        var error = Assert.Throws<InvalidOperationException>(() => services.AddGenevaDrive(o => o.UseSqlite(ConnectionString)))!;

        Assert.That(error.Message, Does.Contain("already called"));
    }

    [Test]
    public async Task HostStart_ValidatesEveryRegisteredWorkflow()
    {
        await using var provider = new ServiceCollection()
            .AddGenevaDrive(o => o.UseSqlite(ConnectionString).AddWorkflow<BrokenWorkflowA>().AddWorkflow<BrokenWorkflowB>())
            .BuildServiceProvider();

        var startup = provider.GetServices<IHostedService>().Single();
        var error = Assert.ThrowsAsync<StepConfigurationException>(() => startup.StartAsync(CancellationToken.None))!;

        Assert.That(error.Errors, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task DiPath_RegistersTheClient_AndPutsTheFilterInTheContainersFilterProvider_NotTheGlobalOne()
    {
        await using var provider = new ServiceCollection()
            .AddSingleton(new Probe())
            .AddSingleton(new AccountDirectory())
            .AddGenevaDrive(o => o
                .UseSqlite(ConnectionString)
                .AddWorkflow<ThreeStepWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)))
            .BuildServiceProvider();
        await provider.GetServices<IHostedService>().Single().StartAsync(CancellationToken.None);
        var client = provider.GetRequiredService<IWorkflowClient>();

        GlobalConfiguration.Configuration.UseGenevaDrive(provider);
        GlobalConfiguration.Configuration.UseGenevaDrive(provider);
        var info = await client.StartAsync<ThreeStepWorkflow>(provider.GetRequiredService<AccountDirectory>().Add("x"));
        var stepJob = global::Hangfire.Common.Job.FromExpression<WorkflowStepJob>(j => j.RunAsync(1, "w", 1, "s", null, CancellationToken.None));

        Assert.Multiple(() =>
        {
            Assert.That(GlobalJobFilters.Filters.Count(f => f.Instance is WorkflowStepFilter), Is.Zero, "no process-wide filter with a container");
            Assert.That(provider.GetRequiredService<global::Hangfire.Common.IJobFilterProvider>().GetFilters(stepJob)
                .Count(f => f.Instance is WorkflowStepFilter), Is.EqualTo(1), "the container's filter provider carries it, once");
            Assert.That(info.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public void UseGenevaDriveWithAServiceProvider_WithoutAddGenevaDrive_SaysWhatIsMissing()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            GlobalConfiguration.Configuration.UseGenevaDrive(new ServiceCollection().BuildServiceProvider()))!;

        Assert.That(error.Message, Does.Contain("needs services.AddGenevaDrive"));
    }

    [Test]
    public async Task PlainGlobalConfiguration_WorksWithoutAContainer()
    {
        var directory = new AccountDirectory();
        GlobalConfiguration.Configuration.UseGenevaDrive(
            o => o.UseSqlite(ConnectionString).AddWorkflow<ThreeStepWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => directory.FindAsync(id)),
            services => services.AddSingleton(new Probe()));

        var info = await Workflows.Client.StartAsync<ThreeStepWorkflow>(directory.Add("plain"));

        Assert.Multiple(async () =>
        {
            Assert.That(info.Name, Is.EqualTo("three_steps"));
            Assert.That((await Workflows.Client.GetHistoryAsync(info.Id)).Single().StepName, Is.EqualTo("first"));
        });
    }

    [Test]
    public async Task MissingHeroLoader_IsExplainedWhenStarting()
    {
        await using var host = GenevaDrive.Testing.WorkflowTestHost.Create(o => o.UseSqlite(ConnectionString).AddWorkflow<ThreeStepWorkflow>(),
            services => services.AddSingleton(new Probe()));

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => host.Client.StartAsync<ThreeStepWorkflow>(new Account { Id = "1" }))!;

        Assert.That(error.Message, Does.Contain("No hero loader is registered for GenevaDrive.Tests.Execution.Account").And.Contain("AddHero<Account>"));
    }
}
