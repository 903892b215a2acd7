using System.Diagnostics;
using GenevaDrive.Definition;
using GenevaDrive.Heroes;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>
/// Runs one step execution in three phases, the same whether a Hangfire job or a test drives it:
/// <list type="number">
/// <item><b>Claim</b> (one short transaction): lock workflow then execution, validate, move to in progress, take the lease.</item>
/// <item><b>Run</b> (no locks held): resolve the type, construct the workflow through DI, load the hero,
/// evaluate cancel and skip conditions, run hooks and body, and decide — flow control, or an exception
/// resolved through the exception policies (imperative handlers run here, in the workflow's context).</item>
/// <item><b>Finalize</b> (one short transaction): record the decision if the lease is still ours, then
/// dispatch the next step's job after the commit.</item>
/// </list>
/// </summary>
internal sealed partial class StepExecutor
{
    private readonly WorkflowRegistry _registry;
    private readonly WorkflowStore _store;
    private readonly IStepJobDispatcher _dispatcher;
    private readonly GenevaDriveOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public StepExecutor(WorkflowRegistry registry, WorkflowStore store, IStepJobDispatcher dispatcher, GenevaDriveOptions options,
        ILogger logger)
    {
        _registry = registry;
        _store = store;
        _dispatcher = dispatcher;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
    }

    public WorkflowStore Store => _store;

    public IStepJobDispatcher Dispatcher => _dispatcher;

    // ---- Phase 1: claim ----------------------------------------------------------------------------

    public async Task<ClaimResult> ClaimAsync(long executionId, string jobId, CancellationToken ct = default, long? workflowIdHint = null,
        StoreIo io = default)
    {
        using var activity = Telemetry.Source.StartActivity("GenevaDrive.Claim");
        activity?.SetTag("genevadrive.step_execution_id", executionId);
        var claim = await _store.ClaimAsync(executionId, jobId, _options.LeaseTimeout, ct, workflowIdHint, io).ConfigureAwait(false);
        activity?.SetTag("genevadrive.claim", claim.Outcome.ToString());
        if (claim.Outcome == ClaimOutcome.NotFound)
        {
            ExecutorLog.ExecutionMissing(_logger, jobId, executionId);
        }
        else if (!claim.IsClaimed)
        {
            ExecutorLog.NotRun(_logger, executionId, jobId, claim.Reason);
        }
        else if (claim.Outcome != ClaimOutcome.Claimed)
        {
            ExecutorLog.ClaimedAfterRecovery(_logger, claim.Reason);
        }

        if (claim.IsClaimed && claim.Execution is { StartedAt: { } startedAt } claimed && claim.Outcome == ClaimOutcome.Claimed)
        {
            Telemetry.ScheduleDelay.Record(Math.Max(0, (startedAt - claimed.ScheduledFor).TotalMilliseconds),
                new KeyValuePair<string, object?>("workflow", claim.Workflow!.Type), new KeyValuePair<string, object?>("step", claimed.StepName));
        }

        return claim;
    }

    // ---- Phase 2: run user code --------------------------------------------------------------------

    public async Task<StepDecision> RunAsync(ClaimResult claim, IServiceProvider services, CancellationToken ct)
    {
        var workflow = claim.Workflow!;
        var execution = claim.Execution!;
        // Every step is a child of the context the workflow started in (the request that started it), whatever
        // process runs it and however late; the worker's own current span (a Hangfire job span) is linked.
        var started = Telemetry.ContextOf(workflow.TraceParent);
        using var activity = started == default
            ? Telemetry.Source.StartActivity("GenevaDrive.Step")
            : Telemetry.Source.StartActivity("GenevaDrive.Step", ActivityKind.Internal, started,
                links: Activity.Current is { } worker ? [new ActivityLink(worker.Context)] : null);
        activity?.SetTag("genevadrive.workflow_id", workflow.Id);
        activity?.SetTag("genevadrive.workflow_type", workflow.Type);
        activity?.SetTag("genevadrive.step", execution.StepName);
        var startedAt = Stopwatch.GetTimestamp();
        Telemetry.StepsInProgress.Add(1);
        StepDecision decision;
        try
        {
            decision = await DecideAsync(workflow, execution, services, ct).ConfigureAwait(false);
        }
        finally
        {
            Telemetry.StepsInProgress.Add(-1);
        }

        Telemetry.StepDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds,
            new KeyValuePair<string, object?>("workflow", workflow.Type), new KeyValuePair<string, object?>("step", execution.StepName));
        activity?.SetTag("genevadrive.outcome", decision.Completion.Outcome.ToStored());
        return decision;
    }

    private async Task<StepDecision> DecideAsync(WorkflowRecord workflow, StepExecutionRecord execution, IServiceProvider services,
        CancellationToken ct)
    {
        var type = _registry.FindType(workflow.Type);
        if (type is null)
        {
            return await UndefinedAsync(workflow, execution, null, ct).ConfigureAwait(false);
        }

        WorkflowDefinition definition;
        Workflow instance;
        try
        {
            instance = _registry.Create(services, type);
            instance.WorkflowId = workflow.Id;
            definition = _registry.BindTo(instance);
        }
        catch (Exception e)
        {
            return Failure(execution.StepName, WorkflowState.Paused, StepOutcome.Failed, e, null);
        }

        var resolved = definition.Resolve(execution.StepName);
        switch (resolved.Kind)
        {
            case StepNameKind.Unknown:
                return await UndefinedAsync(workflow, execution, definition, ct).ConfigureAwait(false);
            case StepNameKind.Retired:
                return Retire(definition, resolved);
            case StepNameKind.Renamed:
                var renamed = await DecideStepAsync(workflow, execution, services, instance, definition, resolved.Step!, ct).ConfigureAwait(false);
                return renamed with
                {
                    Completion = renamed.Completion with { RanAs = resolved.Step!.Name },
                    ResultText = $"Ran '{resolved.Step!.Name}' (renamed from '{execution.StepName}'): {renamed.ResultText}",
                };
        }

        return await DecideStepAsync(workflow, execution, services, instance, definition, resolved.Step!, ct).ConfigureAwait(false);
    }

    private async Task<StepDecision> DecideStepAsync(WorkflowRecord workflow, StepExecutionRecord execution, IServiceProvider services,
        Workflow instance, WorkflowDefinition definition, StepDefinition step, CancellationToken ct)
    {

        WorkflowEventRecord? taken = null;
        instance.EventPayloads = async (name, token) =>
            taken is not null && taken.Name == name
                ? taken.Payload
                : (await _store.GetLatestConsumedEventAsync(workflow.Id, name, token).ConfigureAwait(false))?.Payload;
        instance.ParentWorkflowId = workflow.ParentWorkflowId;
        instance.Store = _store;
        var precondition = Telemetry.Source.StartActivity("GenevaDrive.Precondition");
        try
        {
            var hero = await HeroTypes.LoadAsync(services, definition.HeroType, workflow.HeroId, ct).ConfigureAwait(false);
            if (hero is null && !definition.MayProceedWithoutHero)
            {
                return Decide(StepExecutionState.Canceled, StepOutcome.Canceled, WorkflowState.Canceled, null, null,
                    $"{workflow.HeroType} '{workflow.HeroId}' no longer exists; workflow canceled.");
            }

            instance.SetHero(hero);
            if (definition.ShouldCancel())
            {
                return Decide(StepExecutionState.Canceled, StepOutcome.Canceled, WorkflowState.Canceled, null, null,
                    "A cancel condition holds; workflow canceled.");
            }

            if (step.ShouldSkip())
            {
                return Continue(definition, step, StepExecutionState.Skipped, StepOutcome.Skipped, null, "Skipped by its condition");
            }

            if (Gate(step, execution) is { } gate)
            {
                taken = await _store.GetUnconsumedEventAsync(workflow.Id, gate.EventName, ct).ConfigureAwait(false);
                TraceEvent(taken);
                if (step.Children is { } children)
                {
                    if (await JudgeChildrenAsync(definition, step, workflow, execution, gate, children, ct).ConfigureAwait(false) is { } judged)
                    {
                        return Consuming(taken, judged);
                    }
                }
                else if (taken is null && WaitFurther(definition, step, execution, gate) is { } waiting)
                {
                    return waiting;
                }
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            return Interrupted(step.Name, "the run was stopped while its conditions were evaluated");
        }
        catch (Exception e)
        {
            return await HandleExceptionAsync(definition, step, workflow, e, ReattemptReasons.Precondition, ct).ConfigureAwait(false);
        }
        finally
        {
            precondition?.Dispose();
        }

        var resumable = step.Resumable is null
            ? null
            : new ResumableRun(_store, execution.Id, execution.LeaseToken ?? string.Empty, step.Name, execution.Cursor, _time, step.MaxRunTime,
                step.CheckpointEvery, ct);
        if (resumable is not null && step.CancelChildrenWithParent is not null)
        {
            resumable.Children = new ChildRuntime(_store, _dispatcher, _registry, services, workflow.Id, step.Name);
        }

        if (resumable is not null && Signals.Value is { } signals)
        {
            signals.Resumable = resumable;
        }

        var decision = await RunBodyAsync(definition, step, workflow, execution, instance, resumable, taken, ct).ConfigureAwait(false);
        return WithUnsavedCursor(decision, resumable);
    }

    private async Task<StepDecision> RunBodyAsync(WorkflowDefinition definition, StepDefinition step, WorkflowRecord workflow,
        StepExecutionRecord execution, Workflow instance, ResumableRun? resumable, WorkflowEventRecord? taken, CancellationToken ct)
    {
        StepResult result;
        try
        {
            var context = new StepContext(definition.Name, workflow.Id, step.Name, execution.Id, execution.Attempt)
            {
                StopReasonSource = Signals.Value?.StopReason,
            };
            instance.CurrentStep = context;
            result = await RunWithHooksAsync(definition, step, context, resumable, ct).ConfigureAwait(false);
        }
        catch (StepSuspendedException) when (resumable?.Suspended == Suspension.TimeSlice && !ct.IsCancellationRequested)
        {
            return Suspended(step.Name, resumable);
        }
        catch (StepSuspendedException suspended) when (resumable?.Suspended == Suspension.Refused)
        {
            return Interrupted(step.Name, suspended.Message);
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // The token fires only when the run is stopped from outside (shutdown, abort, fencing): whatever the
            // body threw then is a consequence of that, not a failure of the step. A body's own timeout uses
            // its own token and still goes through the policy below.
            return Interrupted(step.Name, "the run was stopped");
        }
        catch (Exception e)
        {
            return Consuming(taken, await HandleExceptionAsync(definition, step, workflow, e, ReattemptReasons.ExceptionPolicy, ct).ConfigureAwait(false));
        }

        switch (resumable?.Suspended)
        {
            // The body swallowed the checkpoint's stop; it is stopped all the same.
            case Suspension.TimeSlice when !ct.IsCancellationRequested:
                return Suspended(step.Name, resumable);
            case Suspension.Stopped or Suspension.Refused:
                return Interrupted(step.Name, "a checkpoint found the run stopped, and the body returned");
        }

        if (result.Kind == StepResultKind.Reattempt && result.Backoff is not null)
        {
            return Consuming(taken, await BackoffReattemptAsync(step, workflow, result, ct).ConfigureAwait(false));
        }

        return Consuming(taken, FlowControl(definition, step, result, null, ReattemptReasons.FlowControl));
    }

    /// <summary>
    /// What the run that executes a step (a Hangfire job's <c>RunningStep</c>) and the step share, flowing into the step
    /// with the run's async context: why the step's token fired (for <see cref="StepContext.StopReason"/>), and the
    /// resumable step's progress (so its heartbeat can carry the cursor).
    /// </summary>
    internal sealed class RunSignals
    {
        public Func<StepStopReason>? StopReason { get; init; }

        public ResumableRun? Resumable { get; set; }
    }

    internal static readonly AsyncLocal<RunSignals?> Signals = new();

    /// <summary>
    /// The decision when the run was stopped from outside before it finished: the attempt closes as
    /// interrupted, the workflow stays ready at the same step, and a new attempt is scheduled now. No
    /// exception policy runs and no reattempt is counted.
    /// </summary>
    public static StepDecision Interrupted(string stepName, string cause) =>
        Decide(StepExecutionState.Canceled, StepOutcome.Interrupted, WorkflowState.Ready, stepName, new NextStep(stepName, TimeSpan.Zero),
            $"Interrupted ({cause}); the step runs again as a new attempt");

    /// <summary>The decision when the run itself broke without deciding (a bug or an unexpected fault).</summary>
    public static StepDecision Unexpected(string stepName, Exception exception) =>
        Failure(stepName, WorkflowState.Paused, StepOutcome.Failed, exception, null);

    // ---- Phase 3: finalize -------------------------------------------------------------------------

    public async Task<FinalizeReport> FinalizeAsync(ClaimResult claim, StepDecision decision, CancellationToken ct = default,
        StoreIo io = default)
    {
        var execution = claim.Execution!;
        using var activity = Telemetry.Source.StartActivity("GenevaDrive.Finalize");
        activity?.SetTag("genevadrive.step_execution_id", execution.Id);
        var result = await _store.FinalizeAsync(execution.Id, execution.LeaseToken!, decision.Completion with { Reason = decision.ResultText }, ct,
            claim.Workflow!.Id, io, execution.StepName).ConfigureAwait(false);
        activity?.SetTag("genevadrive.finalize", result.Outcome.ToString());
        switch (result.Outcome)
        {
            case FinalizeOutcome.Applied:
                Telemetry.StepOutcomes.Add(1, new KeyValuePair<string, object?>("workflow", claim.Workflow!.Type),
                    new KeyValuePair<string, object?>("outcome", decision.Completion.Outcome.ToStored()));
                if (result.NextExecution is { JobId: null } next)
                {
                    await _dispatcher.DispatchAsync(result.Workflow!, next, ct).ConfigureAwait(false);
                }

                await ChildCascade.AfterChangeAsync(_store, _dispatcher, _registry, result.Workflow!, result.WokenParent, ct).ConfigureAwait(false);

                return result.AppliedInstead is { } instead
                    ? new FinalizeReport(result.Outcome, instead, null, result.NextExecution)
                    : new FinalizeReport(result.Outcome, decision.ResultText, decision.FailJobWith, result.NextExecution);
            case FinalizeOutcome.WorkflowChangedOutside:
                return new FinalizeReport(result.Outcome,
                    $"Workflow {claim.Workflow!.Id} became {result.Workflow!.State} while the step ran; its result was not applied.", null, null);
            case FinalizeOutcome.LeaseLost:
                ExecutorLog.ResultDiscarded(_logger, execution.Id, decision.ResultText);
                return new FinalizeReport(result.Outcome,
                    $"Step execution {execution.Id} lost its lease to another run; this run's result was discarded.", null, null);
            default:
                return new FinalizeReport(result.Outcome, $"Step execution {execution.Id} no longer exists; nothing was recorded.", null, null);
        }
    }
}
