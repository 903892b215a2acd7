namespace GenevaDrive;

/// <summary>The state of a workflow instance.</summary>
public enum WorkflowState
{
    /// <summary>Waiting for its next step execution to run (stored as <c>ready</c>).</summary>
    Ready,

    /// <summary>A step is running right now (stored as <c>performing</c>).</summary>
    Performing,

    /// <summary>Stopped until resumed, skipped or canceled (stored as <c>paused</c>).</summary>
    Paused,

    /// <summary>Every step ran, or a step finished the workflow early; terminal (stored as <c>finished</c>).</summary>
    Finished,

    /// <summary>Canceled by a step, a cancel condition, a policy or from outside; terminal (stored as <c>canceled</c>).</summary>
    Canceled,
}

/// <summary>The state of one attempt to run a step (a step execution).</summary>
public enum StepExecutionState
{
    /// <summary>Waiting for its Hangfire job (stored as <c>scheduled</c>).</summary>
    Scheduled,

    /// <summary>Claimed by a job; the step body is running (stored as <c>in_progress</c>).</summary>
    InProgress,

    /// <summary>The body ran to an end: success, a reattempt or finishing the workflow (stored as <c>completed</c>).</summary>
    Completed,

    /// <summary>The body threw and the policy paused or canceled the workflow (stored as <c>failed</c>).</summary>
    Failed,

    /// <summary>Not run, or its result discarded, because the workflow was canceled or paused (stored as <c>canceled</c>).</summary>
    Canceled,

    /// <summary>The step was skipped by a condition, a result, a policy or from outside (stored as <c>skipped</c>).</summary>
    Skipped,
}

/// <summary>Why a step execution ended the way it did.</summary>
public enum StepOutcome
{
    /// <summary>The step completed (stored as <c>success</c>).</summary>
    Success,

    /// <summary>The step asked to run again, or an exception policy scheduled another attempt (stored as <c>reattempted</c>).</summary>
    Reattempted,

    /// <summary>The step was skipped (stored as <c>skipped</c>).</summary>
    Skipped,

    /// <summary>The workflow was canceled (stored as <c>canceled</c>).</summary>
    Canceled,

    /// <summary>The step threw and the workflow was paused (stored as <c>failed</c>).</summary>
    Failed,

    /// <summary>The attempt was abandoned by a crashed worker and closed by recovery (stored as <c>recovered</c>).</summary>
    Recovered,

    /// <summary>The step itself paused the workflow (stored as <c>workflow_paused</c>).</summary>
    WorkflowPaused,

    /// <summary>
    /// The attempt was stopped from outside before it finished — the Hangfire server shut down, the job was
    /// aborted, or the run could no longer be sure it held its lease — and the step runs again as a new
    /// attempt; no exception policy ran and no reattempt was counted (stored as <c>interrupted</c>).
    /// </summary>
    Interrupted,

    /// <summary>
    /// A resumable step used up its time slice and ended the attempt at a checkpoint; the step continues at once,
    /// from the saved cursor, in a new Hangfire job (stored as <c>suspended</c>).
    /// </summary>
    Suspended,

    /// <summary>
    /// A step waiting for an event ran before its time without the event (it was resumed, or woken by a stale job):
    /// it goes back to waiting until its timeout (stored as <c>rescheduled</c>).
    /// </summary>
    Rescheduled,
}
