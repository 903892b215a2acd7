using GenevaDrive.Registration;
using GenevaDrive.Tests.Execution;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace GenevaDrive.Tests.Health;

/// <summary>
/// The health check against real storage: a SQLite file with Hangfire's in-memory storage beside it, a PostgreSQL server
/// that is not there, and a schema left behind. Each condition is made real (a step left unstarted, a lease run out, a
/// silent reconciler) and the report read through Microsoft's own <see cref="HealthCheckService"/>.
/// </summary>
[NonParallelizable]
public sealed class HealthCheckTests
{
    private string _file = null!;
    private FakeTimeProvider _clock = null!;

    private string ConnectionString => $"Data Source={_file}";

    [SetUp]
    public void SetUp()
    {
        _file = Path.Combine(Path.GetTempPath(), $"genevadrive-health-{Guid.NewGuid():N}.db");
        _clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is GenevaDrive.Server.WorkflowStepFilter).ToList())
        {
            GlobalJobFilters.Filters.Remove(filter.Instance);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_file);
    }

    private ServiceProvider Build(Action<GenevaDriveOptions> storage, Action<GenevaDriveHealthCheckOptions>? thresholds = null)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<JobStorage>(new Hangfire.InMemory.InMemoryStorage())
            .AddSingleton(new AccountDirectory())
            .AddSingleton<Probe>()
            .AddGenevaDrive(o =>
            {
                storage(o);
                o.TimeProvider = _clock;
                o.AddWorkflow<ThreeStepWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
            });
        services.AddHealthChecks().AddGenevaDrive(thresholds);
        return services.BuildServiceProvider();
    }

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["genevadrive"];

    private static async Task<GenevaDriveRuntime> StartedAsync(IServiceProvider services)
    {
        var runtime = services.GetRequiredService<GenevaDriveRuntime>();
        await runtime.EnsureInitializedAsync(CancellationToken.None);
        return runtime;
    }

    private async Task<WorkflowInfo> StartWorkflowAsync(IServiceProvider services, string account)
    {
        services.GetRequiredService<AccountDirectory>().Add(account);
        var hero = await services.GetRequiredService<AccountDirectory>().FindAsync(account);
        return await services.GetRequiredService<IWorkflowClient>().StartAsync<ThreeStepWorkflow>(hero!);
    }

    [Test]
    public async Task WhileWorkIsMoving_ItIsHealthy_WithTheSchemaVersionAndTheFiguresAsData()
    {
        await using var services = Build(o => o.UseSqlite(ConnectionString));
        await StartedAsync(services);
        await StartWorkflowAsync(services, "acct-1");

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Healthy), entry.Description);
            Assert.That(entry.Data["storage"], Is.EqualTo("SQLite"));
            Assert.That(entry.Data["schemaVersion"], Is.EqualTo(SqliteWorkflowSchema.LatestVersion));
            Assert.That(entry.Data["overdueSteps"], Is.EqualTo(0), "a step that is due now is not overdue");
            Assert.That(entry.Data["expiredLeases"], Is.EqualTo(0));
            Assert.That(entry.Data["reconcilerLastRun"], Is.EqualTo("never"), "registered at start-up, not run yet, and not silent for long");
        });
    }

    [Test]
    public async Task AStepLeftUnstartedPastTheThreshold_IsDegraded_AndCounted()
    {
        await using var services = Build(o => o.UseSqlite(ConnectionString), t => t.ReconcilerSilence = TimeSpan.FromHours(1));
        await StartedAsync(services);
        await StartWorkflowAsync(services, "acct-1");
        _clock.Advance(TimeSpan.FromMinutes(6));

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(entry.Data["overdueSteps"], Is.EqualTo(1));
            Assert.That(entry.Description, Does.Contain("1 step(s) due more than 5 min ago have not started"));
        });
    }

    [Test]
    public async Task APerformingStepWhoseLeaseRanOutLongAgo_IsDegraded_NamingTheGoneWorker()
    {
        await using var services = Build(o => o.UseSqlite(ConnectionString));
        var runtime = await StartedAsync(services);
        var workflow = await StartWorkflowAsync(services, "acct-1");
        var execution = (await runtime.Store.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await runtime.Store.ClaimAsync(execution.Id, "job-1", TimeSpan.FromMinutes(1));
        // The worker was killed: nothing renews the lease, which ran out ten minutes ago (leases are on the database's clock).
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE \"GenevaDrive_StepExecutions\" SET \"LeaseExpiresAt\" = @At WHERE \"Id\" = @Id",
                new { At = DateTime.UtcNow.AddMinutes(-10), Id = claim.Execution!.Id });
        }

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(claim.IsClaimed, Is.True, claim.Reason);
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(entry.Data["expiredLeases"], Is.EqualTo(1));
            Assert.That(entry.Description, Does.Contain("1 performing step(s) lost their worker"));
        });
    }

    [Test]
    public async Task AReconcilerSilentForLongerThanTheThreshold_IsDegraded()
    {
        await using var services = Build(o => o.UseSqlite(ConnectionString));
        await StartedAsync(services);
        _clock.Advance(TimeSpan.FromMinutes(11));

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(entry.Description, Does.Contain("The reconciler has not run for more than 10 min"));
        });
    }

    [Test]
    public async Task AStoppedDatabase_IsUnhealthy_SayingItCannotBeReached()
    {
        // Nothing listens on this port: what a client sees of a stopped server.
        await using var services = Build(o => o.UsePostgreSql("Host=127.0.0.1;Port=9;Username=postgres;Database=postgres;Timeout=2"));

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Unhealthy));
            Assert.That(entry.Description, Does.StartWith("GenevaDrive cannot reach its PostgreSQL storage"));
            Assert.That(entry.Exception, Is.Not.Null);
        });
    }

    [Test]
    public async Task ASchemaOlderThanTheBuildNeeds_IsUnhealthy_NamingBothVersions()
    {
        await new GenevaDrive.Sqlite.SqliteDialect(ConnectionString, new SqliteWorkflowStorageOptions()).InstallSchemaAsync(5, CancellationToken.None);
        await using var services = Build(o => o.UseSqlite(ConnectionString, s => s.PrepareSchemaIfNecessary = false));

        var entry = await CheckAsync(services);

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(HealthStatus.Unhealthy));
            Assert.That(entry.Description, Does.Contain("is at version 5; this build needs " + SqliteWorkflowSchema.LatestVersion));
        });
    }

    [Test]
    public void ANonPositiveThreshold_IsRefused_NamingIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new ServiceCollection().AddHealthChecks().AddGenevaDrive(t => t.OverdueAfter = TimeSpan.Zero))!;

        Assert.That(error.Message, Does.Contain("GenevaDriveHealthCheckOptions.OverdueAfter must be positive"));
    }
}
