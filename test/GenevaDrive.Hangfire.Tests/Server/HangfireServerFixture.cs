using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Server;

/// <summary>
/// A real Hangfire server per test, on Hangfire.PostgreSql and on a SQLite-backed setup, running the
/// end-to-end workflows. Captured logs are printed when a test fails.
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public abstract class HangfireServerFixture(string database)
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    private TestDatabase? _db;
    private HangfireTestServer? _server;
    private E2EProbe? _probe;
    private AccountDirectory? _accounts;
    private CapturingLoggerProvider? _logs;

    protected string Database { get; } = database;

    internal TestDatabase Db => _db!;

    internal HangfireTestServer Server => _server!;

    protected E2EProbe Probe => _probe!;

    protected AccountDirectory Accounts => _accounts!;

    internal CapturingLoggerProvider Logs => _logs!;

    /// <summary>Adjusts the GenevaDrive options of the fixture's server.</summary>
    protected virtual void Configure(GenevaDriveOptions options)
    {
    }

    [SetUp]
    public void StartServer()
    {
        _db = TestDatabase.Create(Database);
        _probe = new E2EProbe();
        _accounts = new AccountDirectory();
        _logs = new CapturingLoggerProvider();
        _server = HangfireTestServer.Start(Database, _db,
            options =>
            {
                options.AddWorkflow<E2EOnboardingWorkflow>().AddWorkflow<E2EPaymentWorkflow>().AddWorkflow<E2ESlowWorkflow>()
                    .AddWorkflow<E2EFanOutWorkflow>().AddWorkflow<E2EChildWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
                Configure(options);
            },
            services => services.AddSingleton(_probe).AddSingleton(_accounts).AddLogging(b => b.AddProvider(_logs)),
            workers: 10);
    }

    [TearDown]
    public async Task StopServer()
    {
        // A set-up that was ignored (no PostgreSQL here) or failed leaves some of these unset.
        _probe?.Gate.TrySetResult();
        if (_logs is not null && TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            foreach (var (message, _) in _logs.Entries)
            {
                TestContext.Out.WriteLine(message);
            }
        }

        _logs?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_db is not null)
        {
            await _db.DisposeAsync();
        }

        (_db, _server, _probe, _accounts, _logs) = (null, null, null, null, null);
    }

    protected Task WaitForStateAsync(long workflowId, WorkflowState state) =>
        HangfireTestServer.WaitUntilAsync(async () => (await Server.Client.GetAsync(workflowId))?.State == state, Timeout,
            $"workflow {workflowId} to be {state}");

    protected Task WaitForJobStateAsync(string jobId, string state) =>
        HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Server.JobState(jobId).Name == state), Timeout, $"job {jobId} to be {state}");
}
