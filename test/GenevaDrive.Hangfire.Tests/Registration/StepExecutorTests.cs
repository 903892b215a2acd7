using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Sqlite;
using GenevaDrive.Storage;
using GenevaDrive.Tests.Execution;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Registration;

/// <summary>The runner's collaborations, with the dispatcher and logger mocked (storage is a real SQLite file).</summary>
public sealed class StepExecutorTests
{
    private string _file = null!;
    private WorkflowStore _store = null!;
    private Mock<IStepJobDispatcher> _dispatcher = null!;
    private Mock<ILogger> _logger = null!;
    private StepExecutor _runner = null!;
    private ServiceProvider _services = null!;

    [SetUp]
    public async Task SetUp()
    {
        _file = Path.Combine(Path.GetTempPath(), $"genevadrive-runner-{Guid.NewGuid():N}.db");
        var dialect = new SqliteDialect($"Data Source={_file}", new SqliteWorkflowStorageOptions());
        await dialect.InstallSchemaAsync(CancellationToken.None);
        _store = new WorkflowStore(dialect, TimeProvider.System);
        var directory = new AccountDirectory();
        directory.Add("a");
        _services = new ServiceCollection().AddSingleton(new Probe()).AddSingleton(directory)
            .AddScoped<IHeroLoader<Account>>(sp => new DirectoryLoader(directory)).BuildServiceProvider();
        var registry = new WorkflowRegistry();
        registry.Register(typeof(ThreeStepWorkflow));
        registry.ValidateAll(_services);
        _dispatcher = new Mock<IStepJobDispatcher>();
        _logger = new Mock<ILogger>();
        // Source-generated log methods ask first.
        _logger.Setup(l => l.IsEnabled(It.IsAny<LogLevel>())).Returns(true);
        _runner = new StepExecutor(registry, _store, _dispatcher.Object, new GenevaDriveOptions(), _logger.Object);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_file);
    }

    private Task<CreatedWorkflow> StartAsync() =>
        _store.CreateAsync(new NewWorkflow("three_steps", "GenevaDrive.Tests.Execution.Account", "a", false, "first", null));

    [Test]
    public async Task Finalize_DispatchesTheNextStep_OnlyAfterItIsRecorded()
    {
        var created = await StartAsync();
        StepExecutionRecord? dispatched = null;
        _dispatcher.Setup(d => d.DispatchAsync(It.IsAny<WorkflowRecord>(), It.IsAny<StepExecutionRecord>(), It.IsAny<CancellationToken>()))
            .Callback<WorkflowRecord, StepExecutionRecord, CancellationToken>((_, e, _) => dispatched = _store.GetStepExecutionAsync(e.Id).GetAwaiter().GetResult())
            .ReturnsAsync("job-2");

        var claim = await _runner.ClaimAsync(created.FirstExecution!.Id, "job-1");
        StepDecision decision;
        await using (var scope = _services.CreateAsyncScope())
        {
            decision = await _runner.RunAsync(claim, scope.ServiceProvider, CancellationToken.None);
        }

        var report = await _runner.FinalizeAsync(claim, decision);

        Assert.Multiple(() =>
        {
            Assert.That(report.NextExecution!.StepName, Is.EqualTo("second"));
            Assert.That(dispatched, Is.Not.Null, "the next execution was committed before its job was created");
            Assert.That(dispatched!.StepName, Is.EqualTo("second"));
        });
        _dispatcher.Verify(d => d.DispatchAsync(It.IsAny<WorkflowRecord>(), It.IsAny<StepExecutionRecord>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task Finalize_WithoutTheLease_DispatchesNothing_AndWarns()
    {
        var created = await StartAsync();
        var claim = await _runner.ClaimAsync(created.FirstExecution!.Id, "job-1");
        var stale = claim with { Execution = new StepExecutionRecord { Id = claim.Execution!.Id, StepName = "first", LeaseToken = "stale" } };
        var decision = new StepDecision(new StepCompletion
        {
            ExecutionState = StepExecutionState.Completed, Outcome = StepOutcome.Success, WorkflowState = WorkflowState.Finished,
        }, "done");

        var report = await _runner.FinalizeAsync(stale, decision);

        Assert.That(report.Outcome, Is.EqualTo(FinalizeOutcome.LeaseLost));
        _dispatcher.VerifyNoOtherCalls();
        _logger.Verify(l => l.Log(LogLevel.Warning, It.IsAny<EventId>(), It.Is<It.IsAnyType>((v, _) => v.ToString()!.Contains("lost its lease")),
            null, It.IsAny<Func<It.IsAnyType, Exception?, string>>()), Times.Once);
    }

    [Test]
    public async Task Claim_OfAMissingExecution_WarnsAndRunsNothing()
    {
        var claim = await _runner.ClaimAsync(4242, "job-9");

        Assert.That(claim.IsClaimed, Is.False);
        _logger.Verify(l => l.Log(LogLevel.Warning, It.IsAny<EventId>(), It.Is<It.IsAnyType>((v, _) => v.ToString()!.Contains("4242")),
            null, It.IsAny<Func<It.IsAnyType, Exception?, string>>()), Times.Once);
    }

    private sealed class DirectoryLoader(AccountDirectory directory) : IHeroLoader<Account>
    {
        public string GetId(Account hero) => hero.Id;

        public Task<Account?> LoadAsync(string id, CancellationToken cancellationToken) => directory.FindAsync(id);
    }
}
