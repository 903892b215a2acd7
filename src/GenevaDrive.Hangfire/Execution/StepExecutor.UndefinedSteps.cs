using GenevaDrive.Definition;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>Steps this build does not run: a retired step is skipped as declared; an unknown one is released for a worker that defines it.</summary>
internal sealed partial class StepExecutor
{

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
}
