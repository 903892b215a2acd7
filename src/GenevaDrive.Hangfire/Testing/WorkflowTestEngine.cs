using GenevaDrive.Execution;
using GenevaDrive.Registration;
using GenevaDrive.Store;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Testing;

/// <summary>What one step run did, for assertions.</summary>
public sealed record StepRunResult
{
    /// <summary>The step that ran (or was found not runnable).</summary>
    public required string StepName { get; init; }

    /// <summary>The step execution id.</summary>
    public required long StepExecutionId { get; init; }

    /// <summary>Whether the step was claimed and run.</summary>
    public required bool Ran { get; init; }

    /// <summary>The text a Hangfire job would show as its result, or the reason nothing ran.</summary>
    public required string Text { get; init; }

    /// <summary>The recorded outcome, when the step ran.</summary>
    public StepOutcome? Outcome { get; init; }

    /// <summary>The exception that would fail the Hangfire job (the workflow was paused or canceled by it).</summary>
    public Exception? Exception { get; init; }
}

/// <summary>What one run of the reconciler or of cleanup did under a test host (<see cref="WorkflowTestEngine"/>).</summary>
public sealed record HousekeepingResult
{
    /// <summary>Step jobs created for due steps that had none (reconcile).</summary>
    public int JobsCreated { get; init; }

    /// <summary>Steps whose lease expired and that were recovered (reconcile).</summary>
    public int StepsRecovered { get; init; }

    /// <summary>Rows the run could not handle and moved past.</summary>
    public int Errors { get; init; }

    /// <summary>Workflows deleted (cleanup).</summary>
    public int WorkflowsDeleted { get; init; }

    /// <summary>Step executions deleted with them (cleanup).</summary>
    public int StepExecutionsDeleted { get; init; }

    /// <summary>The run's report, as the recurring job logs it.</summary>
    public required string Text { get; init; }
}

/// <summary>
/// The engine under <c>WorkflowTestHost</c> (package GenevaDrive.Hangfire.Testing): GenevaDrive without a Hangfire server,
/// for test hosts. Steps run on the calling thread through the same claim → run → finalize path a server uses, step jobs
/// are recorded instead of created, and every time comes from <see cref="GenevaDriveOptions.TimeProvider"/> (leases too),
/// so a fake clock moves waits, backoffs and leases. Tests normally use <c>WorkflowTestHost</c>, which adds the fake
/// clock; this type is the public seam it is built on, for hosts of other test frameworks.
/// </summary>
public sealed class WorkflowTestEngine : IAsyncDisposable
{
    private const string TestJobId = "test";

    private readonly GenevaDriveRuntime _runtime;
    private readonly ServiceProvider _services;
    private readonly RecordingDispatcher _dispatcher;

    private WorkflowTestEngine(GenevaDriveRuntime runtime, ServiceProvider services, RecordingDispatcher dispatcher)
    {
        _runtime = runtime;
        _services = services;
        _dispatcher = dispatcher;
    }

    internal GenevaDriveRuntime Runtime => _runtime;

    /// <summary>The client, as the application would use it.</summary>
    public IWorkflowClient Client => _runtime.Client;

    /// <summary>The clock every time comes from (the options' <see cref="GenevaDriveOptions.TimeProvider"/>).</summary>
    public TimeProvider Clock => _runtime.Options.TimeProvider;

    /// <summary>The options the engine runs with.</summary>
    public GenevaDriveOptions Options => _runtime.Options;

    /// <summary>The step executions handed to Hangfire so far (id and due time), in order.</summary>
    public IReadOnlyList<(long StepExecutionId, string StepName, DateTime ScheduledFor)> DispatchedSteps => _dispatcher.Dispatched;

    /// <summary>
    /// Creates an engine: validates the workflows and prepares the schema. Leases are dated by
    /// <see cref="GenevaDriveOptions.TimeProvider"/> rather than the database's clock, so moving a fake clock past
    /// <see cref="GenevaDriveOptions.LeaseTimeout"/> expires a running step's lease.
    /// </summary>
    /// <param name="options">The options, configured as in the application (storage, workflows, heroes).</param>
    /// <param name="configureServices">Services the workflows and hero loaders need.</param>
    /// <returns>The engine; dispose it to release the storage and the services.</returns>
    public static WorkflowTestEngine Create(GenevaDriveOptions options, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.LeasesOnDatabaseClock = false;
        var services = new ServiceCollection();
        foreach (var registration in options.HeroRegistrations)
        {
            registration(services);
        }

        configureServices?.Invoke(services);
        var provider = services.BuildServiceProvider();
        var dispatcher = new RecordingDispatcher();
        var runtime = new GenevaDriveRuntime(options, provider, dispatcher: _ => dispatcher);
        var engine = new WorkflowTestEngine(runtime, provider, dispatcher);
        try
        {
            runtime.EnsureInitialized();
        }
        catch
        {
            runtime.Dispose();
            provider.Dispose();
            throw;
        }

        return engine;
    }

    /// <summary>
    /// Runs the workflow's scheduled step. When it is not due yet, <paramref name="advanceClock"/> is asked to move the
    /// clock to its time; without it nothing runs and null is returned.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="advanceClock">Moves the clock forward by the given time; null to run only a step that is due.</param>
    /// <param name="stopToken">The body's token: cancel it to stop the run as a Hangfire server shutting down would.</param>
    /// <returns>What happened, or null when the workflow has no scheduled step (or it is not due).</returns>
    public async Task<StepRunResult?> RunNextStepAsync(long workflowId, Action<TimeSpan>? advanceClock, CancellationToken stopToken = default)
    {
        var current = await _runtime.Store.GetCurrentExecutionAsync(workflowId).ConfigureAwait(false);
        if (current is null || current.State != "scheduled")
        {
            return null;
        }

        var now = Clock.GetUtcNow().UtcDateTime;
        if (current.ScheduledFor > now)
        {
            if (advanceClock is null)
            {
                return null;
            }

            advanceClock(current.ScheduledFor - now);
        }

        return await RunExecutionAsync(current.Id, stopToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the named step now (its wait is skipped). When another step is scheduled — an earlier one, to run a step
    /// again, or a later one — the workflow jumps to the named step first, as an operator's Skip would: the scheduled
    /// execution is recorded as skipped, and the workflow continues after the named step as usual.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="stepName">Any step of the workflow.</param>
    /// <returns>What happened.</returns>
    /// <exception cref="InvalidOperationException">The workflow has no such step, or it is not ready or paused (it has ended, or a step runs).</exception>
    public async Task<StepRunResult> RunStepAsync(long workflowId, string stepName)
    {
        var current = await _runtime.Store.GetCurrentExecutionAsync(workflowId).ConfigureAwait(false);
        if (current?.StepName != stepName || current.State != "scheduled")
        {
            var workflow = await _runtime.Store.GetWorkflowAsync(workflowId).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Workflow {workflowId} does not exist.");
            var type = _runtime.Registry.FindType(workflow.Type);
            var step = type is null ? null : _runtime.Registry.GetDefinition(type).Steps.Find(stepName);
            if (step is null)
            {
                throw new InvalidOperationException($"Workflow {workflowId} ({workflow.Type}) has no step '{stepName}'.");
            }

            if (workflow.WorkflowState is not (WorkflowState.Ready or WorkflowState.Paused))
            {
                throw new InvalidOperationException(
                    $"Workflow {workflowId} is {workflow.State}; RunStepAsync can jump to step '{stepName}' only in a ready or paused workflow.");
            }

            await _runtime.Store.SkipAsync(workflowId, _ => new NextStep(stepName, TimeSpan.Zero)).ConfigureAwait(false);
            current = await _runtime.Store.GetCurrentExecutionAsync(workflowId).ConfigureAwait(false);
        }

        // Now, without moving the clock: the step's wait is skipped, not waited out.
        return await RunExecutionAsync(current!.Id).ConfigureAwait(false);
    }

    /// <summary>Runs one step execution by id, as a Hangfire job for it would (including duplicates and retries).</summary>
    /// <param name="stepExecutionId">The execution.</param>
    /// <param name="stopToken">The body's token; cancel it to stop the run as a Hangfire server shutting down would.</param>
    /// <returns>What happened.</returns>
    public async Task<StepRunResult> RunExecutionAsync(long stepExecutionId, CancellationToken stopToken = default)
    {
        var claim = await _runtime.Runner.ClaimAsync(stepExecutionId, TestJobId).ConfigureAwait(false);
        if (!claim.IsClaimed)
        {
            return new StepRunResult { StepName = claim.Execution?.StepName ?? "?", StepExecutionId = stepExecutionId, Ran = false, Text = claim.Reason };
        }

        StepDecision decision;
        // The same log scope as a step run under Hangfire (workflow, hero, step, execution, job).
        using var logScope = _runtime.Logger.BeginScope(GenevaDrive.Server.RunningStep.LogScope(claim.Workflow!, claim.Execution!, TestJobId));
        await using (var scope = _services.CreateAsyncScope())
        {
            decision = await _runtime.Runner.RunAsync(claim, scope.ServiceProvider, stopToken).ConfigureAwait(false);
        }

        var report = await _runtime.Runner.FinalizeAsync(claim, decision).ConfigureAwait(false);
        return new StepRunResult
        {
            StepName = claim.Execution!.StepName,
            StepExecutionId = claim.Execution.Id,
            Ran = true,
            Text = report.ResultText,
            Outcome = report.Outcome == FinalizeOutcome.Applied ? decision.Completion.Outcome : null,
            Exception = report.FailJobWith,
        };
    }

    /// <summary>
    /// Runs the reconciler once, now on the engine's clock, as the <c>genevadrive:reconcile</c> recurring job would:
    /// steps whose lease expired are recovered (<see cref="GenevaDriveOptions.StuckRecoveryAction"/>), and due
    /// steps without a job get one (recorded in <see cref="DispatchedSteps"/>). Move the clock past <see cref="GenevaDriveOptions.LeaseTimeout"/> to see a step recovered.
    /// </summary>
    /// <returns>What it did.</returns>
    public async Task<HousekeepingResult> ReconcileAsync()
    {
        var dispatchedBefore = _dispatcher.Dispatched.Count;
        var report = await _runtime.Maintenance.ReconcileAsync().ConfigureAwait(false);
        // The engine creates no Hangfire jobs (its dispatches have no job id, which is what the reconciler counts), so the
        // steps it dispatched are counted here instead.
        var created = Math.Max(report.JobsCreated, _dispatcher.Dispatched.Count - dispatchedBefore);
        return new HousekeepingResult
        {
            JobsCreated = created,
            StepsRecovered = report.ExecutionsRecovered,
            Errors = report.Errors,
            Text = (report with { JobsCreated = created }).ToString(),
        };
    }

    /// <summary>
    /// Runs cleanup once, now on the engine's clock, as the <c>genevadrive:cleanup</c> recurring job would: finished
    /// and canceled workflows older than <see cref="GenevaDriveOptions.DeleteCompletedWorkflowsAfter"/> are deleted
    /// with their step executions.
    /// </summary>
    /// <returns>What it did.</returns>
    public async Task<HousekeepingResult> CleanupAsync()
    {
        var report = await _runtime.Maintenance.CleanupAsync().ConfigureAwait(false);
        return new HousekeepingResult
        {
            WorkflowsDeleted = report.WorkflowsDeleted,
            StepExecutionsDeleted = report.ExecutionsDeleted,
            Text = report.ToString(),
        };
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _runtime.Dispose();
        return _services.DisposeAsync();
    }

    private sealed class RecordingDispatcher : IStepJobDispatcher
    {
        private readonly List<(long, string, DateTime)> _dispatched = [];

        public IReadOnlyList<(long StepExecutionId, string StepName, DateTime ScheduledFor)> Dispatched
        {
            get
            {
                lock (_dispatched)
                {
                    return _dispatched.ToArray();
                }
            }
        }

        public Task<string?> DispatchAsync(WorkflowRecord workflow, StepExecutionRecord execution, CancellationToken ct = default)
        {
            lock (_dispatched)
            {
                _dispatched.Add((execution.Id, execution.StepName, execution.ScheduledFor));
            }

            return Task.FromResult<string?>(null);
        }

        public StepJobStatus? GetJobStatus(string jobId) => null;

        public bool MoveToQueue(WorkflowRecord workflow, string jobId) => false;

        public void RemovePending(string? jobId, string reason)
        {
        }
    }
}
