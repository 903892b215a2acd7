using System.Reflection;
using GenevaDrive.Definition;
using GenevaDrive.Storage;
using Microsoft.Extensions.DependencyInjection;
using GenevaDrive.Store;

namespace GenevaDrive;

/// <summary>What to do with a step whose worker stopped renewing its lease.</summary>
public enum StuckRecoveryAction
{
    /// <summary>Close the abandoned attempt as recovered and run the step again (the default).</summary>
    Reattempt,

    /// <summary>Close the abandoned attempt as recovered and cancel the workflow.</summary>
    Cancel,
}

/// <summary>
/// Configuration of GenevaDrive.Hangfire: the storage, the workflows and heroes, and the timings.
/// Plain settable properties with documented defaults, validated once when registered; every problem is
/// reported in one message.
/// </summary>
public sealed class GenevaDriveOptions
{
    private readonly List<Type> _workflowTypes = [];
    private readonly List<Action<IServiceCollection>> _heroRegistrations = [];

    /// <summary>
    /// How long a claimed step keeps its lease without a heartbeat; a step whose worker died is recovered
    /// after this. Heartbeats run every fifth of it while the step body runs.
    /// <value>The default value is 5 minutes.</value>
    /// </summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long finished and canceled workflows are kept before cleanup deletes them; <see langword="null"/> keeps them forever.
    /// <value>The default value is 30 days.</value>
    /// </summary>
    public TimeSpan? DeleteCompletedWorkflowsAfter { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a due step's job may wait in its queue (measured from when it was dispatched or became due,
    /// whichever is later) before the reconciler adds a new job for it — the case of a worker that died
    /// right after fetching the job, which Hangfire's storages keep invisible for their invisibility timeout.
    /// Each repair restarts the clock, so a backlogged queue gets at most one extra job per step per threshold.
    /// <value>The default value is 5 minutes (the default <see cref="LeaseTimeout"/>).</value>
    /// </summary>
    public TimeSpan StuckScheduledThreshold { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a step that this build does not define (or a workflow type it does not register) is handed back to
    /// other workers before its workflow pauses. During a rolling deploy, old and new builds share the queues: a
    /// worker that picks up a step only the other build defines releases it unrun and uncounted, and it is
    /// dispatched again after <see cref="UndefinedStepRetryDelay"/> until a worker that defines it takes it. Only
    /// when none has for this long does the workflow pause, with a reason saying that no running version defines the step.
    /// <value>The default value is 15 minutes.</value>
    /// </summary>
    public TimeSpan UndefinedStepGracePeriod { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Whether start-up checks the in-flight workflows against this build's definitions in the background and logs a
    /// warning for each type and step it can neither run nor place (see <see cref="IWorkflowClient.GetDefinitionDriftAsync"/>).
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool CheckDefinitionDriftAtStartup { get; set; } = true;

    /// <summary>
    /// What start-up does when a registered workflow's hero type has no hero loader (its steps would fail): <see langword="true"/>
    /// fails start-up listing each such workflow (a <see cref="StepConfigurationException"/>); <see langword="false"/> logs a
    /// warning for each (event 110) and starts. Left null, it fails in the Development environment and warns elsewhere, as
    /// ASP.NET Core validates service registrations (<c>ValidateOnBuild</c>) only in Development.
    /// <value>The default value is <see langword="null"/>.</value>
    /// </summary>
    public bool? FailOnMissingHeroLoaders { get; set; }

    /// <summary>
    /// How long a released step (see <see cref="UndefinedStepGracePeriod"/>) waits before it is dispatched again, plus a
    /// random share of up to half of it (so old and new servers do not settle into one order of fetching it).
    /// Hangfire runs it at the first schedule poll after that (<c>SchedulePollingInterval</c>, 15 s by default).
    /// <value>The default value is 5 seconds.</value>
    /// </summary>
    public TimeSpan UndefinedStepRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long past its time a step's job may stay Scheduled before the reconciler moves that same job to its
    /// queue (Hangfire's schedule poller can stall, e.g. on a lock orphaned by a database restart).
    /// </summary>
    internal TimeSpan ScheduledJobGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What recovery does with a step whose lease expired.
    /// <value>The default value is <see cref="GenevaDrive.StuckRecoveryAction.Reattempt"/>.</value>
    /// </summary>
    public StuckRecoveryAction StuckRecoveryAction { get; set; } = StuckRecoveryAction.Reattempt;

    /// <summary>
    /// How many workflows one cleanup statement deletes at most.
    /// <value>The default value is 1000.</value>
    /// </summary>
    public int HousekeepingBatchSize { get; set; } = 1000;

    /// <summary>
    /// When the reconciler runs (a Hangfire recurring job, cron syntax).
    /// <value>The default value is every minute (<c>* * * * *</c>).</value>
    /// </summary>
    public string ReconcileCron { get; set; } = "* * * * *";

    /// <summary>
    /// When cleanup runs (a Hangfire recurring job, cron syntax).
    /// <value>The default value is hourly (<c>0 * * * *</c>).</value>
    /// </summary>
    public string CleanupCron { get; set; } = "0 * * * *";

    /// <summary>
    /// How long a database transaction is retried after transient faults (deadlocks, failovers, restarts)
    /// before the fault is reported; finalize retries for at least half of <see cref="LeaseTimeout"/>.
    /// </summary>
    internal TimeSpan TransientFaultBudget { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Lease times come from the database's clock (on by default), so processes whose clocks disagree still agree on when a
    /// lease runs out. The test host turns it off: its fake clock moves leases too.
    /// </summary>
    internal bool LeasesOnDatabaseClock { get; set; } = true;

    /// <summary>How long a freshly created execution may wait for its job before the reconciler creates one.</summary>
    internal TimeSpan DispatchGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The clock. Tests pass a fake one to jump over waits.
    /// <value>The default value is <see cref="TimeProvider.System"/>.</value>
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal Func<SqlDialect>? StorageFactory { get; private set; }

    internal string? StorageName { get; private set; }

    internal IReadOnlyList<Type> WorkflowTypes => _workflowTypes;

    internal IReadOnlyList<Action<IServiceCollection>> HeroRegistrations => _heroRegistrations;

    internal TimeSpan HeartbeatInterval => LeaseTimeout / 5;

    /// <summary>Registers a workflow type.</summary>
    /// <typeparam name="TWorkflow">The workflow.</typeparam>
    /// <returns>These options.</returns>
    public GenevaDriveOptions AddWorkflow<TWorkflow>()
        where TWorkflow : Workflow => AddWorkflow(typeof(TWorkflow));

    /// <summary>Registers a workflow type.</summary>
    /// <param name="workflowType">A non-abstract class derived from <see cref="Workflow{THero}"/>.</param>
    /// <returns>These options.</returns>
    public GenevaDriveOptions AddWorkflow(Type workflowType)
    {
        ArgumentNullException.ThrowIfNull(workflowType);
        if (!_workflowTypes.Contains(workflowType))
        {
            _workflowTypes.Add(workflowType);
        }

        return this;
    }

    /// <summary>Registers every non-abstract workflow class in <paramref name="assembly"/>.</summary>
    /// <param name="assembly">The assembly to scan.</param>
    /// <returns>These options.</returns>
    public GenevaDriveOptions AddWorkflowsFromAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        foreach (var type in assembly.GetTypes().Where(WorkflowRegistry.IsWorkflowType).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            AddWorkflow(type);
        }

        return this;
    }

    /// <summary>Registers how heroes of <typeparamref name="THero"/> are identified and loaded.</summary>
    /// <typeparam name="THero">The hero type.</typeparam>
    /// <param name="getId">Returns the hero's stable id.</param>
    /// <param name="load">Loads a hero by id from a scoped service provider; returns null when it no longer exists.</param>
    /// <returns>These options.</returns>
    public GenevaDriveOptions AddHero<THero>(Func<THero, string> getId, Func<IServiceProvider, string, CancellationToken, Task<THero?>> load)
        where THero : class
    {
        ArgumentNullException.ThrowIfNull(getId);
        ArgumentNullException.ThrowIfNull(load);
        _heroRegistrations.Add(services => services.AddScoped<IHeroLoader<THero>>(sp => new DelegateHeroLoader<THero>(getId, load, sp)));
        return this;
    }

    /// <summary>Registers a hero loader class, resolved per step run from a DI scope.</summary>
    /// <typeparam name="THero">The hero type.</typeparam>
    /// <typeparam name="TLoader">The loader.</typeparam>
    /// <returns>These options.</returns>
    public GenevaDriveOptions AddHero<THero, TLoader>()
        where THero : class
        where TLoader : class, IHeroLoader<THero>
    {
        _heroRegistrations.Add(services => services.AddScoped<IHeroLoader<THero>, TLoader>());
        return this;
    }

    /// <summary>Chooses the storage. Called by <c>UseSqlServer</c>, <c>UsePostgreSql</c> and <c>UseSqlite</c>.</summary>
    public GenevaDriveOptions UseStorage(string name, Func<SqlDialect> factory)
    {
        if (StorageFactory is not null)
        {
            throw new InvalidOperationException(
                $"GenevaDrive storage is already configured ({StorageName}); choose exactly one of UseSqlServer, UsePostgreSql or UseSqlite.");
        }

        StorageName = name;
        StorageFactory = factory;
        return this;
    }

    /// <summary>Checks every setting and throws one exception listing every problem.</summary>
    internal void Validate()
    {
        var errors = new List<string>();
        if (StorageFactory is null)
        {
            errors.Add("No storage is configured: call options.UseSqlServer(…), options.UsePostgreSql(…) or options.UseSqlite(…) (from the GenevaDrive.Hangfire.SqlServer, .PostgreSql or .Sqlite package).");
        }

        if (LeaseTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add($"LeaseTimeout must be at least 1 second. Given: {LeaseTimeout}.");
        }

        if (DeleteCompletedWorkflowsAfter is { } keep && keep <= TimeSpan.Zero)
        {
            errors.Add($"DeleteCompletedWorkflowsAfter must be positive, or null to keep ended workflows forever. Given: {keep}.");
        }

        if (StuckScheduledThreshold <= TimeSpan.Zero)
        {
            errors.Add($"StuckScheduledThreshold must be positive. Given: {StuckScheduledThreshold}.");
        }

        if (UndefinedStepGracePeriod < TimeSpan.Zero)
        {
            errors.Add($"UndefinedStepGracePeriod must not be negative (TimeSpan.Zero pauses at once, as a single-version fleet may want). Given: {UndefinedStepGracePeriod}.");
        }

        if (UndefinedStepRetryDelay <= TimeSpan.Zero)
        {
            errors.Add($"UndefinedStepRetryDelay must be positive. Given: {UndefinedStepRetryDelay}.");
        }

        if (!Enum.IsDefined(StuckRecoveryAction))
        {
            errors.Add($"StuckRecoveryAction must be Reattempt or Cancel. Given: {(int)StuckRecoveryAction}.");
        }

        if (HousekeepingBatchSize is < 1 or > 2000)
        {
            errors.Add($"HousekeepingBatchSize must be between 1 and 2000. Given: {HousekeepingBatchSize}.");
        }

        if (string.IsNullOrWhiteSpace(ReconcileCron) || string.IsNullOrWhiteSpace(CleanupCron))
        {
            errors.Add($"ReconcileCron and CleanupCron must be cron expressions such as \"* * * * *\". Given: '{ReconcileCron}', '{CleanupCron}'.");
        }

        if (TimeProvider is null)
        {
            errors.Add("TimeProvider must not be null; use TimeProvider.System.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(
                "GenevaDrive options are invalid:" + Environment.NewLine + "- " + string.Join(Environment.NewLine + "- ", errors));
        }
    }
}
