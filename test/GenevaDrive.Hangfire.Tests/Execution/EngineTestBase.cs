using GenevaDrive.Testing;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Execution;

/// <summary>Runs workflows through the real claim → run → finalize path on each database, without a Hangfire server.</summary>
[TestFixtureSource(typeof(TestDatabase), nameof(TestDatabase.All))]
[Parallelizable(ParallelScope.None)]
public abstract class EngineTestBase(string database)
{
    private TestDatabase? _db;
    private WorkflowTestHost? _host;

    protected string Database { get; } = database;

    protected Probe Probe { get; private set; } = null!;

    protected AccountDirectory Accounts { get; private set; } = null!;

    protected WorkflowTestHost Host => _host!;

    protected IWorkflowClient Client => Host.Client;

    internal TestDatabase Db => _db!;

    protected DateTime Now => Host.Clock!.GetUtcNow().UtcDateTime;

    [SetUp]
    public void CreateHost()
    {
        _db = TestDatabase.Create(Database);
        Probe = new Probe();
        Accounts = new AccountDirectory();
        _host = WorkflowTestHost.Create(
            options =>
            {
                _db.ConfigureStorage(options);
                foreach (var type in typeof(EngineTestBase).Assembly.GetTypes()
                             .Where(t => t.Namespace == typeof(EngineTestBase).Namespace && !t.IsAbstract && typeof(Workflow).IsAssignableFrom(t)))
                {
                    options.AddWorkflow(type);
                }

                options.AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
            },
            services => services.AddSingleton(Probe).AddSingleton(Accounts).AddLogging());
    }

    [TearDown]
    public async Task DisposeHost()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    protected async Task<WorkflowInfo> StartAsync<TWorkflow>(string accountId = "acct-1")
        where TWorkflow : Workflow
    {
        var account = await Accounts.FindAsync(accountId) ?? Accounts.Add(accountId);
        return await Client.StartAsync<TWorkflow>(account);
    }

    protected async Task<WorkflowInfo> WorkflowAsync(long id) => (await Client.GetAsync(id))!;

    protected async Task<IReadOnlyList<StepExecutionInfo>> HistoryAsync(long id) => await Client.GetHistoryAsync(id);

    /// <summary>A fault the database's own classification calls transient (the store repeats the whole transaction).</summary>
    protected Exception TransientFault() => Database switch
    {
        "sqlite" => new Microsoft.Data.Sqlite.SqliteException("database is locked (injected)", 5),
        "postgresql" => new Npgsql.PostgresException("terminating connection due to administrator command (injected)", "FATAL", "FATAL", "57P01"),
        _ => new TimeoutException("injected"),
    };

    protected static string Describe(IEnumerable<StepExecutionInfo> history) =>
        string.Join(", ", history.Select(e => $"{e.StepName}:{e.State}/{e.Outcome}"));
}
