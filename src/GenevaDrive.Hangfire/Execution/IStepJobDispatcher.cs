using GenevaDrive.Storage;

namespace GenevaDrive.Execution;

/// <summary>
/// Turns committed step executions into Hangfire jobs (and removes pending ones). Called only after the
/// transaction that wrote the execution committed; a failure here loses nothing, because the execution
/// row stays scheduled and the reconciler re-creates its job.
/// </summary>
internal interface IStepJobDispatcher
{
    /// <summary>Creates the job for a scheduled execution and records its id; returns the job id or null on failure.</summary>
    Task<string?> DispatchAsync(WorkflowRecord workflow, StepExecutionRecord execution, CancellationToken ct = default);

    /// <summary>The Hangfire state of a job (e.g. "Enqueued", "Succeeded"), or null when the job no longer exists.</summary>
    string? GetJobState(string jobId);

    /// <summary>Removes a pending job (the workflow was paused or canceled); failures are logged, not thrown.</summary>
    void RemovePending(string? jobId, string reason);
}
