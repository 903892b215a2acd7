using GenevaDrive.Client;
using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Hangfire;
using GenevaDrive.Storage;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GenevaDrive;

/// <summary>
/// Everything one GenevaDrive configuration needs at run time, created once: the validated workflow
/// registry, the store over the chosen database, the step runner, the job dispatcher and the client.
/// </summary>
internal sealed class GenevaDriveRuntime
{
    private readonly object _initGate = new();
    private volatile bool _initialized;

    public GenevaDriveRuntime(GenevaDriveOptions options, IServiceProvider services, Func<IBackgroundJobClient>? jobClient = null,
        Func<GenevaDriveRuntime, IStepJobDispatcher>? dispatcher = null)
    {
        options.Validate();
        Options = options;
        Services = services;
        Logger = services.GetService<ILoggerFactory>()?.CreateLogger("GenevaDrive") ?? NullLogger.Instance;
        Registry = new WorkflowRegistry();
        foreach (var type in options.WorkflowTypes)
        {
            Registry.Register(type);
        }

        Dialect = options.StorageFactory!();
        Store = new WorkflowStore(Dialect, options.TimeProvider);
        var client = jobClient ?? (() => services.GetService<IBackgroundJobClient>() ?? new BackgroundJobClient());
        Dispatcher = dispatcher?.Invoke(this) ?? new HangfireStepJobDispatcher(client, Registry, Store, options.TimeProvider, Logger);
        Runner = new StepRunner(Registry, Store, Dispatcher, options, Logger);
        Client = new WorkflowClient(this);
    }

    public GenevaDriveOptions Options { get; }

    public IServiceProvider Services { get; }

    public ILogger Logger { get; }

    public WorkflowRegistry Registry { get; }

    public SqlDialect Dialect { get; }

    public WorkflowStore Store { get; }

    public IStepJobDispatcher Dispatcher { get; }

    public StepRunner Runner { get; }

    public IWorkflowClient Client { get; }

    /// <summary>Validates every registered workflow and prepares the schema, once.</summary>
    public void EnsureInitialized()
    {
        if (_initialized)
        {
            return;
        }

        lock (_initGate)
        {
            if (_initialized)
            {
                return;
            }

            Registry.ValidateAll(Services);
            Dialect.PrepareAsync(CancellationToken.None).GetAwaiter().GetResult();
            _initialized = true;
            Logger.LogInformation("GenevaDrive ready: {Count} workflow(s) on {Storage}.", Registry.Types.Count, Dialect.Name);
        }
    }

    /// <summary>A filter for one Hangfire server or client pipeline.</summary>
    public WorkflowStepFilter CreateFilter() => new(this);
}
