using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// The parameters of <see cref="StorageStatements.FinishStepExecution"/>, and of the next step's
/// <see cref="StorageStatements.InsertStepExecution"/> when the finalize appends it to the same batch (the insert's
/// names are the row's own; the finish statement's names do not collide with them).
/// </summary>
internal sealed class FinishParameters(StepExecutionRecord finished, WorkflowRecord workflow, DateTime now, StepExecutionRecord? next)
{
    public long ExecutionId => finished.Id;

    public string ExecutionState => finished.State;

    public string? ExecutionOutcome => finished.Outcome;

    public DateTime? CompletedAt => finished.CompletedAt;

    public DateTime? FailedAt => finished.FailedAt;

    public DateTime? CanceledAt => finished.CanceledAt;

    public DateTime? SkippedAt => finished.SkippedAt;

    public DateTime? FinishedAt => finished.FinishedAt;

    public string? ErrorClassName => finished.ErrorClassName;

    public string? ErrorMessage => finished.ErrorMessage;

    public string? ErrorBacktrace => finished.ErrorBacktrace;

    public string? ExecutionMetadata => finished.Metadata;

    public string? ExecutionLeaseToken => finished.LeaseToken;

    public DateTime Now => now;

    public long WorkflowId => workflow.Id;

    public string WorkflowState => workflow.State;

    public string? CurrentStepName => workflow.CurrentStepName;

    public string? NextStepName => workflow.NextStepName;

    public string? PausedByJobId => workflow.PausedByJobId;

    public string? StateReason => workflow.StateReason;

    public DateTime? TransitionedAt => workflow.TransitionedAt;

    // The next execution's row (null values when there is none; the finish statement alone does not use them).
    public string StepName => next?.StepName ?? "";

    public string State => next?.State ?? "";

    public string? Outcome => next?.Outcome;

    public DateTime ScheduledFor => next?.ScheduledFor ?? now;

    public DateTime? StartedAt => next?.StartedAt;

    public string? JobId => next?.JobId;

    public DateTime? DispatchedAt => next?.DispatchedAt;

    public string? LeaseToken => next?.LeaseToken;

    public DateTime? HeartbeatAt => next?.HeartbeatAt;

    public DateTime? LeaseExpiresAt => next?.LeaseExpiresAt;

    public string? Metadata => next?.Metadata;

    public DateTime CreatedAt => next?.CreatedAt ?? now;

    public DateTime UpdatedAt => next?.UpdatedAt ?? now;

    public int Attempt => next?.Attempt ?? 1;

    public string? Cursor => next?.Cursor;

    public string? WaitingFor => next?.WaitingFor;

    public DateTime? WaitUntil => next?.WaitUntil;
}
