using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using GenevaDrive.Registration;

namespace GenevaDrive.Tests.Server;

/// <summary>
/// A real Hangfire server on real storage (Hangfire.PostgreSql, or Hangfire.Storage.SQLite), with the
/// GenevaDrive filter installed through a server-local filter provider so tests do not share global state.
/// </summary>
internal sealed class HangfireTestServer : IAsyncDisposable
{
    private readonly BackgroundJobServer? _server;
    private readonly ServiceProvider _services;
    private readonly string? _sqliteHangfireFile;

    private HangfireTestServer(JobStorage storage, BackgroundJobServer? server, GenevaDriveRuntime runtime, ServiceProvider services,
        BackgroundJobClient client, string? sqliteHangfireFile)
    {
        Storage = storage;
        _server = server;
        Runtime = runtime;
        _services = services;
        JobClient = client;
        _sqliteHangfireFile = sqliteHangfireFile;
    }

    public JobStorage Storage { get; }

    /// <summary>The Hangfire.PostgreSql schema, when on PostgreSQL.</summary>
    public string? HangfireSchema { get; private init; }

    public GenevaDriveRuntime Runtime { get; }

    public IWorkflowClient Client => Runtime.Client;

    public BackgroundJobClient JobClient { get; }

    public static HangfireTestServer Start(string database, TestDatabase db, Action<GenevaDriveOptions> configure,
        Action<IServiceCollection> configureServices, int workers = 4, string? hangfireTarget = null, bool startServer = true)
    {
        string? sqliteFile = null;
        string? hangfireSchema = null;
        JobStorage storage;
        if (database == "postgresql")
        {
            var connectionString = Environment.GetEnvironmentVariable(TestDatabase.PostgresVariable)!;
            var options = new PostgreSqlStorageOptions
            {
                SchemaName = hangfireTarget ?? "hf_" + Guid.NewGuid().ToString("N")[..10],
                QueuePollInterval = TimeSpan.FromMilliseconds(200),
                UseSlidingInvisibilityTimeout = true,
                PrepareSchemaIfNecessary = true,
            };
            storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, options), options);
            hangfireSchema = options.SchemaName;
        }
        else
        {
            sqliteFile = hangfireTarget ?? Path.Combine(Path.GetTempPath(), $"hangfire-{Guid.NewGuid():N}.db");
            storage = new SQLiteStorage(sqliteFile, new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) });
        }

        var services = new ServiceCollection();
        var genevaOptions = new GenevaDriveOptions();
        db.ConfigureStorage(genevaOptions);
        configure(genevaOptions);
        foreach (var registration in genevaOptions.HeroRegistrations)
        {
            registration(services);
        }

        configureServices(services);
        var provider = services.BuildServiceProvider();
        var filters = new JobFilterCollection();
        var filterProvider = new JobFilterProviderCollection(JobFilterProviders.Providers.Append(filters).ToArray());
        var client = new BackgroundJobClient(storage, filterProvider);
        var runtime = new GenevaDriveRuntime(genevaOptions, provider, () => client, jobStorage: () => storage,
            recurringJobs: () => new RecurringJobManager(storage, filterProvider));
        filters.Add(runtime.CreateFilter());
        runtime.EnsureInitialized();
        var server = !startServer ? null : new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                WorkerCount = workers,
                SchedulePollingInterval = TimeSpan.FromMilliseconds(500),
                FilterProvider = filterProvider,
                Activator = new JobActivator(),
                ServerName = "genevadrive-test-" + Guid.NewGuid().ToString("N")[..6],
            },
            storage);
        // A target handed in belongs to the caller (another process may share it); only our own temp file is deleted.
        return new HangfireTestServer(storage, server, runtime, provider, client, hangfireTarget is null ? sqliteFile : null) { HangfireSchema = hangfireSchema };
    }

    /// <summary>The state of a Hangfire job, and its state data (exception, result).</summary>
    public (string? Name, IDictionary<string, string>? Data) JobState(string jobId)
    {
        using var connection = Storage.GetConnection();
        var state = connection.GetStateData(jobId);
        return (state?.Name, state?.Data);
    }

    /// <summary>Waits for <paramref name="condition"/>, polling, up to <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Asks the Hangfire server to stop (as a graceful shutdown does) without waiting for it.</summary>
    public void SendStop() => _server?.SendStop();

    public async ValueTask DisposeAsync()
    {
        _server?.SendStop();
        _server?.WaitForShutdown(TimeSpan.FromSeconds(10));
        _server?.Dispose();
        Runtime.Dispose();
        await _services.DisposeAsync();
        if (_sqliteHangfireFile is not null)
        {
            DeleteSqliteFiles(_sqliteHangfireFile);
        }
    }

    /// <summary>
    /// A Hangfire storage that several servers (or processes) of one test share: a fresh Hangfire.PostgreSql
    /// schema name, or a SQLite file path. The caller owns it; <see cref="DeleteTarget"/> removes a SQLite file.
    /// </summary>
    public static string NewTarget(string database, string purpose) => database == "postgresql"
        ? "hf_" + Guid.NewGuid().ToString("N")[..10]
        : Path.Combine(Path.GetTempPath(), $"hangfire-{purpose}-{Guid.NewGuid():N}.db");

    /// <summary>Removes a target made by <see cref="NewTarget"/> (PostgreSQL schemas live in the throwaway cluster).</summary>
    public static void DeleteTarget(string database, string target)
    {
        if (database == "sqlite")
        {
            DeleteSqliteFiles(target);
        }
    }

    /// <summary>Deletes SQLite database files with their WAL and shared-memory files, as far as they are released.</summary>
    public static void DeleteSqliteFiles(params string[] databaseFiles)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in databaseFiles.SelectMany(f => new[] { f, f + "-wal", f + "-shm" }))
        {
            try
            {
                File.Delete(file);
            }
            catch (IOException)
            {
                // sqlite-net may still hold the file briefly; the temp folder is cleaned by the OS.
            }
        }
    }
}
