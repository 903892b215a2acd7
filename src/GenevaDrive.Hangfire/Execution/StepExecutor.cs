using System.Diagnostics;
using GenevaDrive.Definition;
using GenevaDrive.Heroes;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
internal sealed class StepExecutor
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

    public async Task<ClaimResult> ClaimAsync(long executionId, string jobId, CancellationToken ct = default, long? workflowIdHint = null)
    {
        using var activity = Telemetry.Source.StartActivity("GenevaDrive.Claim");
        activity?.SetTag("genevadrive.step_execution_id", executionId);
        var claim = await _store.ClaimAsync(executionId, jobId, _options.LeaseTimeout, ct, workflowIdHint).ConfigureAwait(false);
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
                if (taken is null && WaitFurther(definition, step, execution, gate) is { } waiting)
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

    /// <summary>The step's span notes the event it took and links the sender's trace.</summary>
    private static void TraceEvent(WorkflowEventRecord? taken)
    {
        var span = Activity.Current;
        while (span is not null && span.OperationName != "GenevaDrive.Step")
        {
            span = span.Parent;
        }

        if (taken is null || span is null)
        {
            return;
        }

        span.SetTag("genevadrive.event", taken.Name);
        span.SetTag("genevadrive.event_id", taken.EventKey);
#if NET9_0_OR_GREATER
        if (Telemetry.ContextOf(taken.TraceParent) is { } sender && sender != default)
        {
            span.AddLink(new ActivityLink(sender));
        }
#else
        span.SetTag("genevadrive.event_traceparent", taken.TraceParent);
#endif
    }

    /// <summary>The event a step waits for before it runs: its execution's gate, or a declared WaitFor step's event.</summary>
    private static WaitGate? Gate(StepDefinition step, StepExecutionRecord execution)
    {
        if (execution.WaitingFor is { } eventName && execution.ParsedMetadata.Wait is { } wait)
        {
            return new WaitGate(eventName, wait.Timeout, wait.OnTimeout, execution.WaitUntil);
        }

        return step.WaitEvent is { } declared ? new WaitGate(declared, step.WaitTimeout, step.OnTimeout) : null;
    }

    /// <summary>
    /// No event yet: wait (further) when the gate is not armed or its time has not come, or apply the timeout. Null
    /// means the step runs without the event (<see cref="WaitTimeout.Continue"/> for a step with a body).
    /// </summary>
    private StepDecision? WaitFurther(WorkflowDefinition definition, StepDefinition step, StepExecutionRecord execution, WaitGate gate)
    {
        var now = UtcTimes.Now(_time);
        if (gate.Until is not { } until || execution.WaitingFor is null || now < until)
        {
            var deadline = gate.Until is { } armed && execution.WaitingFor is not null ? armed : now + gate.Timeout;
            return Decide(StepExecutionState.Completed, StepOutcome.Rescheduled, WorkflowState.Ready, step.Name,
                new NextStep(step.Name, deadline - now, gate with { Until = deadline }),
                $"Waiting for event '{gate.EventName}' until {deadline:u} (on timeout: {gate.OnTimeout})");
        }

        var text = $"No '{gate.EventName}' event came by {until:u}";
        return TimingOut(gate, gate.OnTimeout switch
        {
            WaitTimeout.Cancel => Decide(StepExecutionState.Canceled, StepOutcome.Canceled, WorkflowState.Canceled, null, null, $"{text}; workflow canceled"),
            WaitTimeout.Skip => Continue(definition, step, StepExecutionState.Skipped, StepOutcome.Skipped, null, $"{text}; step skipped"),
            WaitTimeout.Continue when step.WaitEvent is not null =>
                Continue(definition, step, StepExecutionState.Completed, StepOutcome.Success, null, $"{text}; went on without it"),
            WaitTimeout.Continue => null,
            _ => Decide(StepExecutionState.Canceled, StepOutcome.WorkflowPaused, WorkflowState.Paused, step.Name, null,
                $"{text}; workflow paused (Resume waits again for {gate.Timeout})"),
        });
    }

    /// <summary>A timeout's decision names its gate, so finalize can look again for the event under the workflow's lock.</summary>
    private static StepDecision? TimingOut(WaitGate gate, StepDecision? decision) =>
        decision is null ? null : decision with { Completion = decision.Completion with { TimedOut = gate } };

    /// <summary>
    /// A resumable step's attempt, however it ended, hands the cursor it moved past its last checkpoint to finalize,
    /// which saves it with the attempt's close: an item whose body returned is never repeated (unless the lease was
    /// lost, when nothing this run did is recorded). A step that starts over (<c>rewind</c>) needs no cursor.
    /// </summary>
    private static StepDecision WithUnsavedCursor(StepDecision decision, ResumableRun? resumable)
    {
        if (resumable?.UnsavedCursor is not { } unsaved || resumable.Suspended == Suspension.Refused || decision.Completion.RewindCursor)
        {
            return decision;
        }

        CursorJson? cursor;
        try
        {
            cursor = unsaved();
        }
        catch (InvalidOperationException)
        {
            // A cursor that cannot be serialized failed its own checkpoint already; the last saved one stands.
            return decision;
        }

        return cursor is null ? decision : decision with { Completion = decision.Completion with { UnsavedCursor = cursor } };
    }

    /// <summary>A run whose gate took an event records it, so finalize marks the event consumed (not when the run was interrupted).</summary>
    private static StepDecision Consuming(WorkflowEventRecord? taken, StepDecision decision)
    {
        if (taken is null || decision.Completion.Outcome == StepOutcome.Interrupted)
        {
            return decision;
        }

        var metadata = StepExecutionMetadata.Parse(decision.Completion.Metadata);
        metadata.ConsumedEvent = taken.Id;
        return decision with { Completion = decision.Completion with { ConsumeEventId = taken.Id, Metadata = metadata.ToJson() } };
    }

    /// <summary>A step's own reattempt with a backoff: driven by the consecutive reattempts of the step (any cause) since it last completed.</summary>
    private async Task<StepDecision> BackoffReattemptAsync(StepDefinition step, WorkflowRecord workflow, StepResult result, CancellationToken ct)
    {
        var count = await _store.CountReattemptsAsync(workflow.Id, step.Name, ct).ConfigureAwait(false);
        var backoff = result.Backoff!;
        var metadata = StepExecutionMetadata.Empty;
        metadata.ReattemptReason = ReattemptReasons.FlowControl;
        var wait = PlanBackoff(backoff, count + 1, workflow, step, metadata);
        var at = UtcTimes.Now(_time) + wait;
        return Rewinding(result.Rewind, Decide(StepExecutionState.Completed, StepOutcome.Reattempted, WorkflowState.Ready, step.Name,
            new NextStep(step.Name, wait),
            $"Reattempt {count + 1} requested by the step, scheduled for {at:HH:mm:ss} (wait {wait:g} by {backoff})", metadata.ToJson()));
    }

    /// <summary>
    /// The wait a backoff plans for reattempt number <paramref name="reattempt"/> (its random choices repeatable per
    /// workflow and step), recorded in the attempt's metadata for the history.
    /// </summary>
    private static TimeSpan PlanBackoff(Backoff backoff, int reattempt, WorkflowRecord workflow, StepDefinition step, StepExecutionMetadata metadata)
    {
        var wait = backoff.DelayFor(reattempt, HashCode.Combine(workflow.Id, StringComparer.Ordinal.GetHashCode(step.Name)));
        metadata.Backoff = $"{backoff}: reattempt {reattempt} waits {wait:g}";
        return wait;
    }

    /// <summary>
    /// The decision when a resumable step used up its time slice at a checkpoint: the attempt ends as suspended,
    /// and the step continues at once, from the saved cursor, in a new Hangfire job (the worker is handed back).
    /// </summary>
    private static StepDecision Suspended(string stepName, ResumableRun run) =>
        Decide(StepExecutionState.Completed, StepOutcome.Suspended, WorkflowState.Ready, stepName, new NextStep(stepName, TimeSpan.Zero),
            $"Suspended at checkpoint {run.Checkpoints} after its time slice; the step continues from its cursor in a new job");

    private static async Task<StepResult> RunWithHooksAsync(WorkflowDefinition definition, StepDefinition step, StepContext context,
        ResumableRun? resumable, CancellationToken ct)
    {
        foreach (var before in definition.Hooks.Before)
        {
            await before(context, ct).ConfigureAwait(false);
        }

        StepResult? result = null;
        Func<Task> body = resumable is null
            ? async () => result = await step.Body(ct).ConfigureAwait(false)
            : async () => result = await step.Resumable!(resumable, ct).ConfigureAwait(false);
        for (var i = definition.Hooks.Around.Count - 1; i >= 0; i--)
        {
            var around = definition.Hooks.Around[i];
            var inner = body;
            body = () => around(context, inner);
        }

        await body().ConfigureAwait(false);
        if (result is null)
        {
            throw new InvalidOperationException(
                $"An AroundEachStep hook of workflow '{definition.Name}' did not call the step body of '{step.Name}'; around hooks must call the function they receive once.");
        }

        foreach (var after in definition.Hooks.After)
        {
            await after(context, ct).ConfigureAwait(false);
        }

        return result;
    }

    private async Task<StepDecision> HandleExceptionAsync(WorkflowDefinition definition, StepDefinition step, WorkflowRecord workflow,
        Exception exception, string reason, CancellationToken ct)
    {
        var policy = definition.ResolveExceptionPolicy(step, exception);
        var metadata = StepExecutionMetadata.Empty.WithException(ErrorClass(exception), exception.Message, exception.ToString());
        switch (policy.Action)
        {
            case ExceptionAction.Cancel:
                return Failure(step.Name, WorkflowState.Canceled, StepOutcome.Canceled, exception, metadata);
            case ExceptionAction.Skip:
                return WithError(Continue(definition, step, StepExecutionState.Skipped, StepOutcome.Skipped, metadata.ToJson(),
                    $"Skipped after {exception.GetType().Name}"), exception);
            case ExceptionAction.Reattempt:
                var count = await _store.CountExceptionReattemptsAsync(workflow.Id, step.Name, ct).ConfigureAwait(false);
                if (policy.MaxReattempts is { } max && count >= max)
                {
                    // The exception's own message is stored as it was; the count has a field of its own.
                    metadata.ReattemptsAtLimit = count;
                    var terminal = policy.TerminalAction == TerminalAction.Cancel ? WorkflowState.Canceled : WorkflowState.Paused;
                    return Failure(step.Name, terminal, terminal == WorkflowState.Canceled ? StepOutcome.Canceled : StepOutcome.Failed,
                        exception, metadata, $" after {count} reattempts");
                }

                metadata.ReattemptReason = reason;
                // The backoff is driven by the consecutive exception-caused reattempt count (this is reattempt count + 1);
                // its random choices are repeatable per workflow and step.
                var wait = policy.Backoff is { } backoff ? PlanBackoff(backoff, count + 1, workflow, step, metadata) : policy.Wait ?? TimeSpan.Zero;
                var at = UtcTimes.Now(_time) + wait;

                return WithError(Rewinding(policy.Rewind, Decide(StepExecutionState.Completed, StepOutcome.Reattempted, WorkflowState.Ready, step.Name,
                    new NextStep(step.Name, wait),
                    $"Reattempt {count + 1}{(policy.MaxReattempts is { } limit ? $"/{limit}" : string.Empty)} scheduled for {at:HH:mm:ss}" +
                    $"{(policy.Backoff is { } b ? $" (wait {wait:g} by {b})" : string.Empty)} after {exception.GetType().Name}",
                    metadata.ToJson())), exception);
            case ExceptionAction.Handle:
                StepResult? handled;
                try
                {
                    handled = await policy.Handler!(exception, ct).ConfigureAwait(false);
                }
                catch (Exception handlerError)
                {
                    ExecutorLog.HandlerThrew(_logger, handlerError, step.Name, definition.Name);
                    return Failure(step.Name, WorkflowState.Paused, StepOutcome.Failed, exception, metadata);
                }

                return handled is null
                    ? Failure(step.Name, WorkflowState.Paused, StepOutcome.Failed, exception, metadata)
                    : WithError(FlowControl(definition, step, handled, metadata, ReattemptReasons.ExceptionPolicy), exception);
            default:
                return Failure(step.Name, WorkflowState.Paused, StepOutcome.Failed, exception, metadata);
        }
    }

    private static StepDecision FlowControl(WorkflowDefinition definition, StepDefinition step, StepResult result,
        StepExecutionMetadata? metadata, string reattemptReason)
    {
        switch (result.Kind)
        {
            case StepResultKind.Cancel:
                return Decide(StepExecutionState.Canceled, StepOutcome.Canceled, WorkflowState.Canceled, null, null, "Workflow canceled by the step", metadata?.ToJson());
            case StepResultKind.Pause:
                return Decide(StepExecutionState.Canceled, StepOutcome.Canceled, WorkflowState.Paused, step.Name, null,
                    "Workflow paused by the step; resuming runs this step again", metadata?.ToJson());
            case StepResultKind.Reattempt:
                var wait = result.Wait ?? TimeSpan.Zero;
                var reattemptMetadata = metadata ?? StepExecutionMetadata.Empty;
                reattemptMetadata.ReattemptReason = reattemptReason;
                return Rewinding(result.Rewind, Decide(StepExecutionState.Completed, StepOutcome.Reattempted, WorkflowState.Ready, step.Name,
                    new NextStep(step.Name, wait), $"Reattempt requested by the step (wait {wait}){(result.Rewind ? ", starting over" : string.Empty)}",
                    reattemptMetadata.ToJson()));
            case StepResultKind.Skip:
                return Continue(definition, step, StepExecutionState.Skipped, StepOutcome.Skipped, metadata?.ToJson(), "Skipped by the step");
            case StepResultKind.WaitFor:
                var (eventName, timeout, onTimeout) = result.AwaitedEvent!.Value;
                var following = definition.Steps.NextAfter(step.Name);
                if (following is null)
                {
                    throw new InvalidOperationException(
                        $"Step '{step.Name}' of workflow '{definition.Name}' returned StepResult.WaitFor(\"{eventName}\"), but it is the last step: " +
                        $"nothing comes after it to wait for the event. Declare steps.WaitFor(\"{eventName}\", …) after it instead.");
                }

                return Decide(StepExecutionState.Completed, StepOutcome.Success, WorkflowState.Ready, following.Name,
                    new NextStep(following.Name, timeout, new WaitGate(eventName, timeout, onTimeout)),
                    $"Completed; next step '{following.Name}' waits for event '{eventName}' (up to {timeout}, then {onTimeout})", metadata?.ToJson());
            case StepResultKind.Finished:
                return Decide(StepExecutionState.Completed, StepOutcome.Success, WorkflowState.Finished, null, null,
                    "Workflow finished by the step", metadata?.ToJson());
            default:
                return Continue(definition, step, StepExecutionState.Completed, StepOutcome.Success, metadata?.ToJson(), "Completed");
        }
    }

    /// <summary>Ends this step and moves to the next one, or finishes the workflow after the last step.</summary>
    private static StepDecision Continue(WorkflowDefinition definition, StepDefinition step, StepExecutionState state, StepOutcome outcome,
        string? metadata, string text)
    {
        var next = definition.Steps.NextAfter(step.Name);
        return next is null
            ? Decide(state, outcome, WorkflowState.Finished, null, null, $"{text}; workflow finished", metadata)
            : Decide(state, outcome, WorkflowState.Ready, next.Name, next.Schedule(),
                $"{text}; next step '{next.Name}'{(next.WaitEvent is { } e ? $" waits for event '{e}' (up to {next.WaitTimeout})" : next.Wait is { } w && w > TimeSpan.Zero ? $" in {w}" : string.Empty)}", metadata);
    }

    private static StepDecision Decide(StepExecutionState state, StepOutcome outcome, WorkflowState workflowState, string? nextStepName,
        NextStep? schedule, string text, string? metadata = null) =>
        new(new StepCompletion
        {
            ExecutionState = state,
            Outcome = outcome,
            WorkflowState = workflowState,
            NextStepName = nextStepName,
            Schedule = schedule,
            Metadata = metadata,
        }, text);

    private static StepDecision Failure(string stepName, WorkflowState workflowState, StepOutcome outcome, Exception exception,
        StepExecutionMetadata? metadata, string suffix = "") =>
        new(new StepCompletion
        {
            ExecutionState = StepExecutionState.Failed,
            Outcome = outcome,
            WorkflowState = workflowState,
            NextStepName = workflowState == WorkflowState.Paused ? stepName : null,
            ErrorClassName = ErrorClass(exception),
            ErrorMessage = exception.Message,
            ErrorBacktrace = exception.ToString(),
            Metadata = metadata?.ToJson(),
        }, $"{exception.GetType().Name}{suffix}; workflow {workflowState.ToStored()}", exception);

    /// <summary>
    /// Every attempt records the exception that ended it in the execution's own error fields, whatever the
    /// policy did with it (reattempted, skipped), so the history and the dashboard show it.
    /// </summary>
    private static StepDecision WithError(StepDecision decision, Exception exception) =>
        decision with
        {
            Completion = decision.Completion with
            {
                ErrorClassName = ErrorClass(exception),
                ErrorMessage = exception.Message,
                ErrorBacktrace = exception.ToString(),
            },
        };

    private static StepDecision Rewinding(bool rewind, StepDecision decision) =>
        rewind ? decision with { Completion = decision.Completion with { RewindCursor = true } } : decision;

    private static string ErrorClass(Exception exception) => exception.GetType().FullName ?? exception.GetType().Name;

    // ---- Steps this build does not run ----------------------------------------------------------------

    /// <summary>
    /// A row that names a retired step: the step does not run; its execution is recorded as skipped, with the
    /// declaration as the reason, and the workflow continues where the declaration says (with that step's wait).
    /// </summary>
    private static StepDecision Retire(WorkflowDefinition definition, StepResolution resolved)
    {
        var retired = definition.Evolution.Retired[resolved.StoredName];
        var text = $"Step '{resolved.StoredName}' is retired in this build (declared at {retired.Source})";
        return resolved.Step is { } next
            ? Decide(StepExecutionState.Skipped, StepOutcome.Skipped, WorkflowState.Ready, next.Name, next.Schedule(),
                $"{text}; continuing at '{next.Name}'")
            : Decide(StepExecutionState.Skipped, StepOutcome.Skipped, WorkflowState.Finished, null, null,
                $"{text}; declared to finish the workflow");
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Type, string Step), bool> _undefinedLogged = new();

    /// <summary>
    /// A step this build does not define (or a workflow type it does not register): during a rolling deploy another
    /// build may. The attempt is released — closed as interrupted, uncounted, the same step scheduled again after
    /// <see cref="GenevaDriveOptions.UndefinedStepRetryDelay"/> — until the grace period since the first release is
    /// over; then the workflow pauses with a reason that says no running version defines the step.
    /// </summary>
    private async Task<StepDecision> UndefinedAsync(WorkflowRecord workflow, StepExecutionRecord execution, WorkflowDefinition? definition,
        CancellationToken ct)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var since = await _store.UndefinedSinceAsync(workflow.Id, execution, ct).ConfigureAwait(false) ?? now;
        var what = definition is null
            ? $"workflow type '{workflow.Type}' is not registered in this build"
            : $"step '{execution.StepName}' of workflow '{definition.Name}' is not defined in this build (steps: {string.Join(", ", definition.Steps.Names)})";
        if (now - since >= _options.UndefinedStepGracePeriod)
        {
            Exception error = definition is null
                ? new InvalidOperationException(
                    $"Workflow type '{workflow.Type}' is not registered in this application, nor in any running version" +
                    (now > since ? $" (released to other workers for {now - since:g})" : string.Empty) +
                    $", so step '{execution.StepName}' of workflow {workflow.Id} cannot run. Register the workflow class (or restore its " +
                    "[WorkflowName]) and retry the step from the dashboard.")
                : StepNotDefinedException.NoVersionDefines(definition.Name, execution.StepName, definition.Steps.Names, now - since);
            return Failure(execution.StepName, WorkflowState.Paused, StepOutcome.Failed, error, null);
        }

        if (_undefinedLogged.TryAdd((workflow.Type, execution.StepName), true))
        {
            ExecutorLog.UndefinedStepReleased(_logger, what, BuildVersion, _options.UndefinedStepRetryDelay, since + _options.UndefinedStepGracePeriod);
        }

        var metadata = StepExecutionMetadata.Empty;
        metadata.UndefinedSince = since;
        // Jittered (up to half again), so the schedule polls of old and new servers do not settle into an order in which
        // the old server always enqueues, and so fetches, the released job first.
        var delay = _options.UndefinedStepRetryDelay + (_options.UndefinedStepRetryDelay / 2) * Random.Shared.NextDouble();
        return Decide(StepExecutionState.Canceled, StepOutcome.Interrupted, WorkflowState.Ready, execution.StepName,
                new NextStep(execution.StepName, delay),
                $"Released unrun: {what} (build {BuildVersion}); it runs again in {delay:g} on a worker that defines it, " +
                $"and the workflow pauses if none has by {since + _options.UndefinedStepGracePeriod:u}", metadata.ToJson())
            with { Released = true };
    }

    /// <summary>This build's version, as logged when it releases a step it does not define.</summary>
    private static readonly string BuildVersion =
        System.Reflection.Assembly.GetEntryAssembly()?.GetName() is { } entry ? $"{entry.Name} {entry.Version}" : "unknown";

    /// <summary>
    /// The decision when the run was stopped from outside before it finished: the attempt closes as
    /// interrupted, the workflow stays ready at the same step, and a new attempt is scheduled now. No
    /// exception policy runs and no reattempt is counted.
    /// </summary>
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

    public static StepDecision Interrupted(string stepName, string cause) =>
        Decide(StepExecutionState.Canceled, StepOutcome.Interrupted, WorkflowState.Ready, stepName, new NextStep(stepName, TimeSpan.Zero),
            $"Interrupted ({cause}); the step runs again as a new attempt");

    /// <summary>The decision when the run itself broke without deciding (a bug or an unexpected fault).</summary>
    public static StepDecision Unexpected(string stepName, Exception exception) =>
        Failure(stepName, WorkflowState.Paused, StepOutcome.Failed, exception, null);

    // ---- Phase 3: finalize -------------------------------------------------------------------------

    public async Task<FinalizeReport> FinalizeAsync(ClaimResult claim, StepDecision decision, CancellationToken ct = default)
    {
        var execution = claim.Execution!;
        using var activity = Telemetry.Source.StartActivity("GenevaDrive.Finalize");
        activity?.SetTag("genevadrive.step_execution_id", execution.Id);
        var result = await _store.FinalizeAsync(execution.Id, execution.LeaseToken!, decision.Completion with { Reason = decision.ResultText }, ct,
            claim.Workflow!.Id).ConfigureAwait(false);
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
