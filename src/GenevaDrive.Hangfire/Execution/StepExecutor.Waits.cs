using System.Diagnostics;
using GenevaDrive.Definition;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>The run phase's event waits: the gate a step waits behind, whether it waits further or times out, and the event it takes.</summary>
internal sealed partial class StepExecutor
{
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
            return new WaitGate(eventName, wait.Timeout, wait.OnTimeout, execution.WaitUntil, step.Children);
        }

        return step.WaitEvent is { } declared ? new WaitGate(declared, step.WaitTimeout, step.OnTimeout, Children: step.Children) : null;
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

        var text = gate.Children is { } children
            ? $"The children of '{children.Group}' did not meet the wait for {children.Until} by {until:u}"
            : $"No '{gate.EventName}' event came by {until:u}";
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

    /// <summary>
    /// A <c>WaitForChildren</c> step judges its children's counts every time it runs (armed, woken or timed out): met, it
    /// completes; failed, its exception policy handles <see cref="ChildWorkflowsFailedException"/>; a paused child under
    /// <see cref="ChildTrouble.PauseParent"/> pauses the workflow; otherwise it waits (further) or its timeout applies. Null means
    /// the step goes on to its (empty) body: the timeout's <see cref="WaitTimeout.Continue"/>.
    /// </summary>
    private async Task<StepDecision?> JudgeChildrenAsync(WorkflowDefinition definition, StepDefinition step, WorkflowRecord workflow,
        StepExecutionRecord execution, WaitGate gate, ChildrenGate children, CancellationToken ct)
    {
        var counts = await _store.CountChildrenAsync(workflow.Id, children.Group, ct).ConfigureAwait(false);
        var verdict = children.Judge(counts);
        switch (verdict.Kind)
        {
            case ChildrenVerdictKind.Satisfied:
                return Continue(definition, step, StepExecutionState.Completed, StepOutcome.Success, null, verdict.Text);
            case ChildrenVerdictKind.PauseParent:
                return Decide(StepExecutionState.Canceled, StepOutcome.WorkflowPaused, WorkflowState.Paused, step.Name, null,
                    char.ToUpperInvariant(verdict.Text[0]) + verdict.Text[1..]);
            case ChildrenVerdictKind.Failed:
                return await HandleExceptionAsync(definition, step, workflow,
                    new ChildWorkflowsFailedException(workflow.Id, children.Group,
                        $"Workflow {workflow.Id} waited for {children.Until} of its children; {verdict.Text}."),
                    ReattemptReasons.ExceptionPolicy, ct).ConfigureAwait(false);
            default:
                return WaitFurther(definition, step, execution, gate) is { } waiting
                    ? waiting with { ResultText = $"{waiting.ResultText}; children of '{children.Group}': {counts}" }
                    : null;
        }
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
}
