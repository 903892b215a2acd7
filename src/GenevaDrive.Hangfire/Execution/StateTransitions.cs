namespace GenevaDrive.Execution;

/// <summary>
/// The two state machines as data. Every state change of a workflow or a step execution goes through
/// <see cref="EnsureAllowed(WorkflowState, WorkflowState)"/> or
/// <see cref="EnsureAllowed(StepExecutionState, StepExecutionState)"/>, so an illegal change fails
/// loudly instead of corrupting a row.
/// </summary>
internal static class StateTransitions
{
    public static readonly IReadOnlyDictionary<WorkflowState, WorkflowState[]> Workflow =
        new Dictionary<WorkflowState, WorkflowState[]>
        {
            [WorkflowState.Ready] =
                [WorkflowState.Performing, WorkflowState.Paused, WorkflowState.Canceled, WorkflowState.Finished],
            [WorkflowState.Performing] =
                [WorkflowState.Ready, WorkflowState.Finished, WorkflowState.Canceled, WorkflowState.Paused],
            [WorkflowState.Paused] = [WorkflowState.Ready, WorkflowState.Canceled],
            [WorkflowState.Finished] = [],
            [WorkflowState.Canceled] = [],
        };

    public static readonly IReadOnlyDictionary<StepExecutionState, StepExecutionState[]> StepExecution =
        new Dictionary<StepExecutionState, StepExecutionState[]>
        {
            [StepExecutionState.Scheduled] =
            [
                StepExecutionState.InProgress, StepExecutionState.Canceled, StepExecutionState.Skipped,
                StepExecutionState.Failed, StepExecutionState.Completed,
            ],
            [StepExecutionState.InProgress] =
            [
                StepExecutionState.Completed, StepExecutionState.Failed, StepExecutionState.Canceled,
                StepExecutionState.Skipped,
            ],
            [StepExecutionState.Completed] = [],
            [StepExecutionState.Failed] = [],
            [StepExecutionState.Canceled] = [],
            [StepExecutionState.Skipped] = [],
        };

    /// <summary>Workflow states in which a workflow still counts as ongoing for the per-hero uniqueness rule.</summary>
    public static readonly IReadOnlySet<WorkflowState> OngoingWorkflowStates =
        new HashSet<WorkflowState> { WorkflowState.Ready, WorkflowState.Performing, WorkflowState.Paused };

    /// <summary>Step execution states that count as active: at most one per workflow.</summary>
    public static readonly IReadOnlySet<StepExecutionState> ActiveStepExecutionStates =
        new HashSet<StepExecutionState> { StepExecutionState.Scheduled, StepExecutionState.InProgress };

    public static bool IsAllowed(WorkflowState from, WorkflowState to) => Workflow[from].Contains(to);

    public static bool IsAllowed(StepExecutionState from, StepExecutionState to) => StepExecution[from].Contains(to);

    public static void EnsureAllowed(WorkflowState from, WorkflowState to)
    {
        if (!IsAllowed(from, to))
        {
            throw new InvalidStateTransitionException("workflow", from.ToStored(), to.ToStored());
        }
    }

    public static void EnsureAllowed(StepExecutionState from, StepExecutionState to)
    {
        if (!IsAllowed(from, to))
        {
            throw new InvalidStateTransitionException("step execution", from.ToStored(), to.ToStored());
        }
    }

    public static bool IsTerminal(WorkflowState state) => Workflow[state].Length == 0;

    public static bool IsTerminal(StepExecutionState state) => StepExecution[state].Length == 0;
}
