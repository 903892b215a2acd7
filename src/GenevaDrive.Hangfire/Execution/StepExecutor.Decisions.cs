using GenevaDrive.Definition;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>The run phase's decisions: what a step's result, its exception (through the policies) or its backoff means for the attempt and the workflow.</summary>
internal sealed partial class StepExecutor
{
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
}
