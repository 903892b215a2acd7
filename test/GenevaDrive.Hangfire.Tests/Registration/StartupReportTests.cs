using GenevaDrive.Registration;
using GenevaDrive.Tests.Execution;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Registration;

/// <summary>A workflow whose waits are shorter than Hangfire's default schedule poll.</summary>
[WorkflowName("quick_nudges")]
public sealed class QuickNudgesWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("first", () => Task.CompletedTask,
            onException: ExceptionPolicy.Reattempt(Backoff.Exponential(initial: TimeSpan.FromSeconds(2), max: TimeSpan.FromSeconds(30))));
        steps.Step("second", () => Task.CompletedTask, wait: TimeSpan.FromSeconds(10));
        steps.Step("third", () => Task.CompletedTask, wait: TimeSpan.FromHours(1));
    }
}

/// <summary>Start-up's own account of what runs, and its warnings about waits that Hangfire's schedule poll makes late.</summary>
[NonParallelizable]
public sealed class StartupReportTests
{
    private string _file = null!;

    [SetUp]
    public void SetUp() => _file = Path.Combine(Path.GetTempPath(), $"genevadrive-startup-{Guid.NewGuid():N}.db");

    [TearDown]
    public void TearDown()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_file);
    }

    private async Task<List<string>> StartAsync(BackgroundJobServerOptions? server)
    {
        var logs = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        var services = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(logs))
            .AddSingleton<JobStorage>(new Hangfire.InMemory.InMemoryStorage())
            .AddSingleton(new AccountDirectory())
            .AddGenevaDrive(o => o.UseSqlite($"Data Source={_file}").AddWorkflow<QuickNudgesWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)));
        if (server is not null)
        {
            services.AddSingleton(server);
        }

        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<GenevaDriveRuntime>().EnsureInitializedAsync(CancellationToken.None);
        return logs.Entries.Select(e => e.Message).ToList();
    }

    [Test]
    public async Task UnderTheDefaultSchedulePoll_EachShorterWaitIsWarnedAbout_AndTheSummarySaysWhatRuns()
    {
        var logged = await StartAsync(server: null);

        var warnings = logged.Where(m => m.Contains("shorter than Hangfire's schedule poll", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(logged, Has.One.StartsWith("GenevaDrive running: workflows quick_nudges; storage SQLite at schema version " +
                                                   $"{SqliteWorkflowSchema.LatestVersion}; lease 5 min, heartbeat every 60 s; Hangfire schedule poll 15 s (assumed, Hangfire's default"));
            Assert.That(warnings, Has.Count.EqualTo(2), string.Join("\n", warnings));
            Assert.That(warnings, Has.Some.StartsWith("Workflow 'quick_nudges': step 'first' first backs off by 2 s, shorter than Hangfire's schedule poll (15 s)"));
            Assert.That(warnings, Has.Some.StartsWith("Workflow 'quick_nudges': step 'second' waits 10 s, shorter than"));
            Assert.That(warnings, Has.All.Contains("SchedulePollingInterval"));
        });
    }

    [Test]
    public async Task UnderAOneSecondSchedulePoll_NothingIsWarnedAbout()
    {
        var logged = await StartAsync(new BackgroundJobServerOptions { SchedulePollingInterval = TimeSpan.FromSeconds(1) });

        Assert.Multiple(() =>
        {
            Assert.That(logged.Where(m => m.Contains("shorter than Hangfire's schedule poll", StringComparison.Ordinal)), Is.Empty);
            Assert.That(logged, Has.One.Contains("Hangfire schedule poll 1 s."));
        });
    }
}
