namespace GenevaDrive.Execution;

/// <summary>The stored (snake_case) names of states and outcomes, shared by every database.</summary>
internal static class StateNames
{
    public static string ToStored(this WorkflowState state) => state switch
    {
        WorkflowState.Ready => "ready",
        WorkflowState.Performing => "performing",
        WorkflowState.Paused => "paused",
        WorkflowState.Finished => "finished",
        WorkflowState.Canceled => "canceled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown workflow state."),
    };

    public static string ToStored(this StepExecutionState state) => state switch
    {
        StepExecutionState.Scheduled => "scheduled",
        StepExecutionState.InProgress => "in_progress",
        StepExecutionState.Completed => "completed",
        StepExecutionState.Failed => "failed",
        StepExecutionState.Canceled => "canceled",
        StepExecutionState.Skipped => "skipped",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown step execution state."),
    };

    public static string ToStored(this StepOutcome outcome) => outcome switch
    {
        StepOutcome.Success => "success",
        StepOutcome.Reattempted => "reattempted",
        StepOutcome.Skipped => "skipped",
        StepOutcome.Canceled => "canceled",
        StepOutcome.Failed => "failed",
        StepOutcome.Recovered => "recovered",
        StepOutcome.WorkflowPaused => "workflow_paused",
        StepOutcome.Interrupted => "interrupted",
        StepOutcome.Suspended => "suspended",
        StepOutcome.Rescheduled => "rescheduled",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown step outcome."),
    };

    public static WorkflowState ParseWorkflowState(string stored) =>
        Parse<WorkflowState>(stored, ToStored, "workflow state");

    public static StepExecutionState ParseStepExecutionState(string stored) =>
        Parse<StepExecutionState>(stored, ToStored, "step execution state");

    public static StepOutcome ParseOutcome(string stored) =>
        Parse<StepOutcome>(stored, ToStored, "step outcome");

    private static T Parse<T>(string stored, Func<T, string> toStored, string what)
        where T : struct, Enum
    {
        foreach (var value in Enum.GetValues<T>())
        {
            if (toStored(value) == stored)
            {
                return value;
            }
        }

        throw new FormatException(
            $"'{stored}' is not a known {what}. Known values: {string.Join(", ", Enum.GetValues<T>().Select(toStored))}.");
    }
}
