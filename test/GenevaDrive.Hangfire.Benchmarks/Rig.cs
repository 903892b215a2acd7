using Dapper;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// One measured run's world: a host with its own Hangfire storage (fresh schema or file) and its own
/// GenevaDrive storage, registered the DI-first way, and a Hangfire server started on demand with the
/// host's filter provider. Same worker count and poll interval for plain jobs and workflows.
/// </summary>
internal sealed class Rig : IAsyncDisposable
{
    public const int Workers = 4;
    public const string SqlitePrefix = "GenevaDrive_";
    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private static int s_sequence;
    private readonly ServiceProvider _services;
    private readonly string? _sqliteFolder;
    private BackgroundJobServer? _server;

    private Rig(ServiceProvider services, JobStorage storage, string? sqliteFolder, string database, string? postgres, string run)
    {
        _services = services;
        Storage = storage;
        _sqliteFolder = sqliteFolder;
        Database = database;
        Postgres = postgres;
        Run = run;
    }

    /// <summary>"postgresql" or "sqlite".</summary>
    public string Database { get; }

    /// <summary>The PostgreSQL connection string (null on SQLite).</summary>
    public string? Postgres { get; }

    private string Run { get; }

    /// <summary>The GenevaDrive schema of this run on PostgreSQL.</summary>
    public string Schema => "gdb_" + Run;

    /// <summary>The GenevaDrive database file of this run on SQLite.</summary>
    public string SqliteConnectionString => $"Data Source={Path.Combine(_sqliteFolder!, "workflows.db")}";

    public JobStorage Storage { get; }

    public IServiceProvider Services => _services;

    public BenchProbe Probe => Services.GetRequiredService<BenchProbe>();

    public FanOutProbe FanOut => Services.GetRequiredService<FanOutProbe>();

    public IBackgroundJobClient Jobs => Services.GetRequiredService<IBackgroundJobClient>();

    public IWorkflowClient Workflows => Services.GetRequiredService<IWorkflowClient>();

    public static async Task<Rig> CreateAsync(string database, string? postgres)
    {
        var n = Interlocked.Increment(ref s_sequence);
        var run = $"{DateTime.UtcNow:HHmmss}_{n}";
        var services = new ServiceCollection();
        services.AddSingleton<BenchProbe>();
        services.AddSingleton<FanOutProbe>();
        JobStorage storage;
        string? folder = null;
        if (database == "postgresql")
        {
            var options = new PostgreSqlStorageOptions { SchemaName = "hfb_" + run, QueuePollInterval = Poll, PrepareSchemaIfNecessary = true };
            storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(postgres!, options), options);
        }
        else
        {
            folder = Directory.CreateTempSubdirectory("genevadrive-bench-").FullName;
            storage = new SQLiteStorage(Path.Combine(folder, "hangfire.db"), new SQLiteStorageOptions { QueuePollInterval = Poll });
        }

        services.AddSingleton<JobStorage>(storage);
        services.AddGenevaDrive(o =>
        {
            if (database == "postgresql")
            {
                o.UsePostgreSql(postgres!, s => s.SchemaName = "gdb_" + run);
            }
            else
            {
                o.UseSqlite($"Data Source={Path.Combine(folder!, "workflows.db")}", s => s.TablePrefix = SqlitePrefix);
            }

            o.AddWorkflow<FourStepWorkflow>().AddWorkflow<ChainWorkflow>().AddWorkflow<FanOutParentWorkflow>().AddWorkflow<FanOutChildWorkflow>()
                .AddHero<BenchHero>(h => h.Id, (_, id, _) => Task.FromResult<BenchHero?>(new BenchHero(id)));
        });
        services.AddHangfire((sp, config) => config.UseGenevaDrive(sp));
        var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            // GenevaDrive's start-up: validate the workflows and install the schema.
            await hosted.StartAsync(CancellationToken.None);
        }

        return new Rig(provider, storage, folder, database, postgres, run);
    }

    public void StartServer() =>
        _server = new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                WorkerCount = Workers,
                SchedulePollingInterval = TimeSpan.FromSeconds(1),
                FilterProvider = Services.GetRequiredService<Hangfire.Common.IJobFilterProvider>(),
                Activator = new Hangfire.AspNetCore.AspNetCoreJobActivator(Services.GetRequiredService<IServiceScopeFactory>()),
                ServerName = "bench-" + Guid.NewGuid().ToString("N")[..6],
            },
            Storage);

    public void StopServer()
    {
        if (_server is null)
        {
            return;
        }

        _server.SendStop();
        _server.WaitForShutdown(TimeSpan.FromSeconds(15));
        _server.Dispose();
        _server = null;
    }

    /// <summary>Commits of the whole PostgreSQL database so far (null on SQLite).</summary>
    public static async Task<long?> CommitsAsync(string? postgres)
    {
        if (postgres is null)
        {
            return null;
        }

        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        // The statistics collector lags a little: ask it to flush first.
        await connection.ExecuteAsync("SELECT pg_stat_clear_snapshot();");
        return await connection.ExecuteScalarAsync<long>("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database();");
    }

    public async ValueTask DisposeAsync()
    {
        StopServer();
        await _services.DisposeAsync();
        if (_sqliteFolder is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_sqliteFolder, recursive: true);
            }
            catch (IOException)
            {
                // sqlite-net may hold the file a moment longer; the temp folder is cleaned by the OS.
            }
        }
    }
}
