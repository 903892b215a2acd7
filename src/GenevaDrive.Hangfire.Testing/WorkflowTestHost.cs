using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

// Moved to the core package with their namespace (the test engine and the conformance suite run the core's own
// transactions, so they belong with it); code compiled against an earlier version of this package finds them there.
[assembly: TypeForwardedTo(typeof(GenevaDrive.Testing.StepRunResult))]
[assembly: TypeForwardedTo(typeof(GenevaDrive.Testing.HousekeepingResult))]
[assembly: TypeForwardedTo(typeof(GenevaDrive.Testing.StorageConformance))]
[assembly: TypeForwardedTo(typeof(GenevaDrive.Testing.StorageConformanceException))]

namespace GenevaDrive.Testing;

/// <summary>
/// Runs workflows synchronously in tests through the same claim → run → finalize path a Hangfire server
/// uses, without a server: step jobs are recorded instead of created, and a fake clock jumps over waits.
/// Storage is real (use a SQLite file for fast tests). Built on the core's public <see cref="WorkflowTestEngine"/>.
/// </summary>
public sealed class WorkflowTestHost : IAsyncDisposable
{
    private WorkflowTestHost(WorkflowTestEngine engine, FakeTimeProvider? clock)
    {
        Engine = engine;
        Clock = clock;
    }

    /// <summary>The engine the host drives.</summary>
    internal WorkflowTestEngine Engine { get; }

    /// <summary>The client, as the application would use it.</summary>
    public IWorkflowClient Client => Engine.Client;

    /// <summary>The fake clock, unless the options brought their own <see cref="GenevaDriveOptions.TimeProvider"/>.</summary>
    public FakeTimeProvider? Clock { get; }

    /// <summary>The step executions handed to Hangfire so far (id and due time), in order.</summary>
    public IReadOnlyList<(long StepExecutionId, string StepName, DateTime ScheduledFor)> DispatchedSteps => Engine.DispatchedSteps;

    /// <summary>Creates a host: configure storage, workflows and heroes as in the application.</summary>
    /// <param name="configure">
    /// The GenevaDrive options; a fake clock starting now is used unless one is set, and
    /// <see cref="GenevaDriveOptions.UndefinedStepGracePeriod"/> is zero (a step this build does not define pauses its
    /// workflow at once: no other version runs in a test) unless set.
    /// </param>
    /// <param name="configureServices">Services the workflows and hero loaders need.</param>
    /// <returns>The host, with workflows validated and the schema prepared.</returns>
    public static WorkflowTestHost Create(Action<GenevaDriveOptions> configure, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new GenevaDriveOptions();
        // Whole seconds, so times read back from any database compare equal to the clock.
        var start = DateTimeOffset.UtcNow;
        FakeTimeProvider? clock = new(start.AddTicks(-(start.Ticks % TimeSpan.TicksPerSecond)));
        options.TimeProvider = clock;
        // One build runs here, so no other version can take a step it does not define: such a step pauses its workflow
        // at once (a test of a rolling deploy sets a grace period of its own).
        options.UndefinedStepGracePeriod = TimeSpan.Zero;
        options.CheckDefinitionDriftAtStartup = false;
        configure(options);
        if (!ReferenceEquals(options.TimeProvider, clock))
        {
            clock = options.TimeProvider as FakeTimeProvider;
        }

        // The engine dates leases by the options' clock too: AdvanceTime past LeaseTimeout expires a running step's lease.
        return new WorkflowTestHost(WorkflowTestEngine.Create(options, configureServices), clock);
    }

    /// <summary>Moves the fake clock forward.</summary>
    /// <param name="by">How far.</param>
    public void AdvanceTime(TimeSpan by) =>
        (Clock ?? throw new InvalidOperationException("AdvanceTime needs the host's fake clock; do not set options.TimeProvider, or set a FakeTimeProvider.")).Advance(by);

    /// <summary>
    /// Runs the workflow's scheduled step. When it is not due yet, the fake clock jumps to its time
    /// (unless <paramref name="advanceClock"/> is false, then nothing runs and null is returned).
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="advanceClock">Whether to jump over the step's wait.</param>
    /// <param name="stopToken">
    /// The body's token: cancel it to stop the run as a Hangfire server shutting down (or a lost lease) would; the
    /// attempt then ends as interrupted and the step is scheduled again.
    /// </param>
    /// <returns>What happened, or null when the workflow has no scheduled step (or it is not due).</returns>
    public Task<StepRunResult?> RunNextStepAsync(long workflowId, bool advanceClock = true, CancellationToken stopToken = default) =>
        Engine.RunNextStepAsync(workflowId, advanceClock ? AdvanceTime : null, stopToken);

    /// <inheritdoc cref="WorkflowTestEngine.RunStepAsync"/>
    public Task<StepRunResult> RunStepAsync(long workflowId, string stepName) => Engine.RunStepAsync(workflowId, stepName);

    /// <inheritdoc cref="WorkflowTestEngine.RunExecutionAsync"/>
    public Task<StepRunResult> RunExecutionAsync(long stepExecutionId, CancellationToken stopToken = default) =>
        Engine.RunExecutionAsync(stepExecutionId, stopToken);

    /// <summary>Runs steps, jumping over waits, until the workflow has no scheduled step (it finished, was canceled or paused).</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="maxSteps">A guard against workflows that never end.</param>
    /// <returns>Every step run, in order.</returns>
    /// <exception cref="InvalidOperationException">More than <paramref name="maxSteps"/> steps ran.</exception>
    public async Task<IReadOnlyList<StepRunResult>> RunToEndAsync(long workflowId, int maxSteps = 100)
    {
        var runs = new List<StepRunResult>();
        while (await RunNextStepAsync(workflowId).ConfigureAwait(false) is { } run)
        {
            runs.Add(run);
            if (runs.Count >= maxSteps)
            {
                throw new InvalidOperationException(
                    $"Workflow {workflowId} ran {maxSteps} steps without ending; last: '{run.StepName}' ({run.Text}). Raise maxSteps if that is expected.");
            }
        }

        return runs;
    }

    /// <inheritdoc cref="WorkflowTestEngine.ReconcileAsync"/>
    public Task<HousekeepingResult> ReconcileAsync() => Engine.ReconcileAsync();

    /// <inheritdoc cref="WorkflowTestEngine.CleanupAsync"/>
    public Task<HousekeepingResult> CleanupAsync() => Engine.CleanupAsync();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
