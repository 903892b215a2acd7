using GenevaDrive.Client;
using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Logging;
using GenevaDrive.Server;
using GenevaDrive.Storage;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using GenevaDrive.Store;

namespace GenevaDrive.Registration;

/// <summary>
/// Everything one GenevaDrive configuration needs at run time, created once: the validated workflow
/// registry, the store over the chosen database, the step runner, the job dispatcher and the client.
/// </summary>
internal sealed class GenevaDriveRuntime : IDisposable
{
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private readonly Func<IRecurringJobManager>? _recurringJobs;
    private readonly Func<JobStorage> _jobStorage;
    private volatile bool _initialized;

    public GenevaDriveRuntime(GenevaDriveOptions options, IServiceProvider services, Func<IBackgroundJobClient>? jobClient = null,
        Func<GenevaDriveRuntime, IStepJobDispatcher>? dispatcher = null, Func<JobStorage>? jobStorage = null,
        Func<IRecurringJobManager>? recurringJobs = null)
    {
        options.Validate();
        Options = options;
        Services = services;
        LoggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger(LogCategories.Runtime);
        RunningStepLogger = LoggerFactory.CreateLogger(LogCategories.RunningStep);
        FilterLogger = LoggerFactory.CreateLogger(LogCategories.Filter);
        DashboardLogger = LoggerFactory.CreateLogger(LogCategories.Dashboard);
        Registry = new WorkflowRegistry();
        foreach (var type in options.WorkflowTypes)
        {
            Registry.Register(type);
        }

        Dialect = options.StorageFactory!();
        if (Dialect.ContractVersion != StorageContract.Version)
        {
            throw new InvalidOperationException(
                $"The {Dialect.Name} storage ({Dialect.GetType().Assembly.GetName().Name} {Dialect.GetType().Assembly.GetName().Version}) implements GenevaDrive storage contract " +
                $"{Dialect.ContractVersion}, but this GenevaDrive.Hangfire ({typeof(GenevaDriveRuntime).Assembly.GetName().Version}) needs contract {StorageContract.Version}. " +
                "Use the storage package of the same version as GenevaDrive.Hangfire.");
        }

        // Finalize tries for at least half the lease: giving up means a body that succeeded runs again.
        var finalizeBudget = options.LeaseTimeout / 2 > options.TransientFaultBudget ? options.LeaseTimeout / 2 : options.TransientFaultBudget;
        Store = new WorkflowStore(Dialect, options.TimeProvider, options.TransientFaultBudget, finalizeBudget, LoggerFactory.CreateLogger(LogCategories.Storage),
            options.LeasesOnDatabaseClock);
        // Without a client in the container, one client per Hangfire storage is made and reused (not one per step).
        (JobStorage Storage, BackgroundJobClient Client)? fallback = null;
        IBackgroundJobClient Fallback()
        {
            var current = JobStorage.Current;
            if (fallback is not { } made || !ReferenceEquals(made.Storage, current))
            {
                made = (current, new BackgroundJobClient(current));
                fallback = made;
            }

            return made.Client;
        }

        var client = jobClient ?? (() => services.GetService<IBackgroundJobClient>() ?? Fallback());
        var storage = jobStorage ?? (() => services.GetService<JobStorage>() ?? JobStorage.Current);
        _jobStorage = storage;
        Dispatcher = dispatcher?.Invoke(this) ?? new HangfireStepJobDispatcher(client, storage, Registry, Store, options.TimeProvider,
            LoggerFactory.CreateLogger(LogCategories.Dispatcher));
        Runner = new StepExecutor(Registry, Store, Dispatcher, options, LoggerFactory.CreateLogger(LogCategories.Executor));
        Maintenance = new Execution.WorkflowMaintenance(Store, Dispatcher, options, LoggerFactory.CreateLogger(LogCategories.Reconciler), Registry);
        _recurringJobs = recurringJobs ?? (dispatcher is null ? () => services.GetService<IRecurringJobManager>() ?? new RecurringJobManager(storage()) : null);
        Client = new WorkflowClient(this);
        Counts = new Execution.WorkflowCounts(Store, options.TimeProvider, logger: Logger);
        StateGauge = new Execution.WorkflowStateGauge(Counts);
        StateGauge.Register(Dialect.Name);
        Drift = new Execution.DefinitionDriftCheck(Registry, Store, options.TimeProvider, Logger);
        Drift.RegisterGauge(Dialect.Name);
    }

    public GenevaDriveOptions Options { get; }

    public IServiceProvider Services { get; }

    /// <summary>The host's logger factory; each component logs under its own category (see <see cref="LogCategories"/>).</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Category <see cref="LogCategories.Runtime"/>.</summary>
    public ILogger Logger { get; }

    /// <summary>Category <see cref="LogCategories.RunningStep"/>: heartbeats and fencing.</summary>
    public ILogger RunningStepLogger { get; }

    /// <summary>Category <see cref="LogCategories.Filter"/>.</summary>
    public ILogger FilterLogger { get; }

    /// <summary>Category <see cref="LogCategories.Dashboard"/>.</summary>
    public ILogger DashboardLogger { get; }

    public WorkflowRegistry Registry { get; }

    public SqlDialect Dialect { get; }

    public WorkflowStore Store { get; }

    public IStepJobDispatcher Dispatcher { get; }

    public StepExecutor Runner { get; }

    public IWorkflowClient Client { get; }

    public Execution.WorkflowMaintenance Maintenance { get; }

    /// <summary>Validates every registered workflow and prepares the schema, once.</summary>
    public void EnsureInitialized()
    {
        if (_initialized)
        {
            return;
        }

        // Blocks only before start-up finished: from Hangfire's synchronous filter API, or the container-free
        // UseGenevaDrive call. The host's start-up and the client initialize asynchronously.
        EnsureInitializedAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>
    /// Validates every workflow, installs or upgrades the schema (when the storage option says so), and registers
    /// the recurring jobs and the dashboard, once. Run by the host's start-up; the client awaits it as a fallback.
    /// </summary>
    public async Task EnsureInitializedAsync(CancellationToken ct)
    {
        if (_initialized)
        {
            return;
        }

        await _initGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            Registry.ValidateAll(Services);
            var missingLoaders = Registry.FindMissingHeroLoaders(Services);
            if (missingLoaders.Count > 0 && (Options.FailOnMissingHeroLoaders ??
                    (Services.GetService(typeof(Microsoft.Extensions.Hosting.IHostEnvironment)) as Microsoft.Extensions.Hosting.IHostEnvironment)?.EnvironmentName
                    == "Development"))
            {
                throw new StepConfigurationException(missingLoaders);
            }

            foreach (var missing in missingLoaders)
            {
                // Elsewhere a warning, not a failed start: a host may register a workflow before the loader its steps will need.
                RuntimeLog.HeroLoaderMissing(Logger, missing);
            }

            Dialect.InstallLogger ??= Logger;
            await Dialect.PrepareAsync(ct).ConfigureAwait(false);
            var server = Services.GetService(typeof(global::Hangfire.BackgroundJobServerOptions)) as global::Hangfire.BackgroundJobServerOptions;
            CheckPoolSize(Dialect, server, Logger);
            StartupReport.Log(this, server, Logger);
            RegisterRecurringJobs();
            RegisterWithDashboard();
            _initialized = true;
            RuntimeLog.Ready(Logger, Registry.Types.Count, Dialect.Name);
            if (Options.CheckDefinitionDriftAtStartup)
            {
                // In the background: a large store's check must not hold up start-up.
                _ = Task.Run(Drift.LogAtStartupAsync, CancellationToken.None);
            }
        }
        finally
        {
            _initGate.Release();
        }
    }

    /// <summary>
    /// Warns when the storage's pool is smaller than the sizing rule: 2 connections per Hangfire worker (the claim or
    /// finalize, and the heartbeat beside the running step) and 4 for the reconciler, cleanup and commands. The worker
    /// count is the registered server options' (Hangfire's default when none are registered).
    /// </summary>
    /// <returns>The connections needed, or null when the pool's size is unknown.</returns>
    internal static int? CheckPoolSize(SqlDialect dialect, global::Hangfire.BackgroundJobServerOptions? server, ILogger logger)
    {
        if (dialect.MaxPoolSize is not { } max)
        {
            return null;
        }

        var workers = (server ?? new global::Hangfire.BackgroundJobServerOptions()).WorkerCount;
        var needed = 2 * workers + 4;
        if (max < needed)
        {
            RuntimeLog.PoolTooSmall(logger, dialect.Name, max, needed, workers);
        }

        return needed;
    }

    /// <summary>Whether this runtime registers the reconciler's and cleanup's recurring jobs (not under the test host).</summary>
    public bool RegistersRecurringJobs => _recurringJobs is not null;

    /// <summary>The Hangfire storage this runtime's jobs live in.</summary>
    public JobStorage HangfireStorage => _jobStorage();

    /// <summary>The ids of GenevaDrive's recurring jobs in Hangfire.</summary>
    public const string ReconcileJobId = "genevadrive:reconcile";

    /// <inheritdoc cref="ReconcileJobId"/>
    public const string CleanupJobId = "genevadrive:cleanup";

    private void RegisterRecurringJobs()
    {
        if (_recurringJobs is null)
        {
            return;
        }

        try
        {
            var manager = _recurringJobs();
            manager.AddOrUpdate(ReconcileJobId, Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.ReconcileAsync(null)), Options.ReconcileCron);
            if (Options.DeleteCompletedWorkflowsAfter is null)
            {
                manager.RemoveIfExists(CleanupJobId);
            }
            else
            {
                manager.AddOrUpdate(CleanupJobId, Hangfire.Common.Job.FromExpression<WorkflowMaintenanceJob>(j => j.CleanupAsync(null)), Options.CleanupCron);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            RuntimeLog.RecurringJobsNotRegistered(Logger, e);
        }
    }

    /// <summary>Lets the dashboard pages of this runtime's Hangfire storage find it (several hosts may share a process).</summary>
    private void RegisterWithDashboard()
    {
        try
        {
            RuntimeDirectory.Register(_jobStorage(), this);
            // The pages too, whichever way Hangfire was configured: AddHangfire(config => …) without UseGenevaDrive would
            // otherwise serve no Workflows pages at all (a silent 404).
            Dashboard.GenevaDriveDashboard.Install(GlobalConfiguration.Configuration);
        }
        catch (InvalidOperationException e)
        {
            // No Hangfire storage is configured yet (e.g. a client-only setup); the dashboard is then not served here.
            RuntimeLog.NoDashboardStorage(Logger, e);
        }
    }

    /// <summary>Releases the storage's connection pool.</summary>
    /// <summary>Why the last dashboard commands were refused, for the page the operator returns to.</summary>
    public Dashboard.CommandRefusals Refusals { get; } = new();

    /// <summary>The counts of workflows by type and state, shared by the dashboard and the gauge (cached on a large store).</summary>
    public Execution.WorkflowCounts Counts { get; private set; } = null!;

    /// <summary>The <c>genevadrive.workflows</c> gauge (workflows by state).</summary>
    public Execution.WorkflowStateGauge StateGauge { get; private set; } = null!;

    /// <summary>The definition drift report (in-flight workflows at steps this build cannot run), latest and on demand.</summary>
    public Execution.DefinitionDriftCheck Drift { get; private set; } = null!;

    public void Dispose()
    {
        // The ids of jobs this process created and has not yet written (a bounded wait: the reconciler covers the rest).
        Store.JobIds.FlushAsync().Wait(TimeSpan.FromSeconds(5));
        Drift.Stop();
        StateGauge.Stop();
        Dialect.Dispose();
    }

    /// <summary>A filter for one Hangfire server or client pipeline.</summary>
    public WorkflowStepFilter CreateFilter() => new(this);
}
