using GenevaDrive.Storage;
using GenevaDrive.Store;

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

    /// <summary>
    /// The Hangfire state of a job (e.g. "Enqueued", "Succeeded") and, when it is Processing, whether the
    /// server processing it still heartbeats; null when the job no longer exists.
    /// </summary>
    StepJobStatus? GetJobStatus(string jobId);

    /// <summary>
    /// Moves a job that is still Scheduled to its queue now (only if it is still Scheduled: atomic in
    /// Hangfire's state lock). Used when Hangfire's schedule poller is stuck; returns whether it moved.
    /// </summary>
    bool MoveToQueue(WorkflowRecord workflow, string jobId);

    /// <summary>Removes a pending job (the workflow was paused or canceled); failures are logged, not thrown.</summary>
    void RemovePending(string? jobId, string reason);
}

/// <summary>What Hangfire says about a step job.</summary>
/// <param name="State">The state name, e.g. "Enqueued".</param>
/// <param name="OnDeadServer">True when the job is Processing on a server that stopped heartbeating (or is gone).</param>
internal sealed record StepJobStatus(string State, bool OnDeadServer = false);
