using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>What to create when a workflow starts.</summary>
internal sealed record NewWorkflow(
    string Type, string HeroType, string HeroId, bool AllowMultiple, string? FirstStepName, TimeSpan? FirstStepWait,
    WaitGate? FirstStepGate = null, string? TraceParent = null, long? ParentWorkflowId = null, string? ParentStepName = null);

/// <summary>A created workflow and its first execution (none when it has no steps and finished at once).</summary>
internal sealed record CreatedWorkflow(WorkflowRecord Workflow, StepExecutionRecord? FirstExecution);

/// <summary>How a claim ended.</summary>
internal enum ClaimOutcome
{
    /// <summary>The scheduled execution is now in progress under this job's lease.</summary>
    Claimed,

    /// <summary>The execution's lease had expired: it was closed as recovered and a new attempt is claimed.</summary>
    TookOver,

    /// <summary>A failed execution of a paused workflow was retried (dashboard requeue): a new attempt is claimed.</summary>
    Retried,

    /// <summary>The execution already ended; nothing runs.</summary>
    AlreadyEnded,

    /// <summary>The execution runs elsewhere under a live lease; nothing runs.</summary>
    LeaseHeld,

    /// <summary>
    /// The workflow is paused (the execution stays scheduled for Resume), or canceled or finished (the
    /// execution was canceled); nothing runs.
    /// </summary>
    WorkflowNotRunnable,

    /// <summary>The execution or its workflow no longer exists; nothing runs.</summary>
    NotFound,
}

/// <summary>The result of a claim: the outcome, a reason for the dashboard, and the rows as they now are.</summary>
internal sealed record ClaimResult(
    ClaimOutcome Outcome,
    string Reason,
    WorkflowRecord? Workflow = null,
    StepExecutionRecord? Execution = null,
    long? ReplacedExecutionId = null)
{
    public bool IsClaimed => Outcome is ClaimOutcome.Claimed or ClaimOutcome.TookOver or ClaimOutcome.Retried;
}

/// <summary>The next step to schedule after an execution ends.</summary>
internal sealed record NextStep(string Name, TimeSpan Wait, WaitGate? Gate = null);

/// <summary>
/// An event a scheduled step waits for before it runs: its name, how long to wait, what to do on timeout, and
/// (once armed) until when. The execution is scheduled for that time; the event moves it to now.
/// </summary>
internal sealed record WaitGate(string EventName, TimeSpan Timeout, WaitTimeout OnTimeout, DateTime? Until = null, ChildrenGate? Children = null);

/// <summary>How a delivered event was taken, per workflow.</summary>
internal sealed record EventDeliveryRecord(EventDeliveryOutcome Outcome, WorkflowRecord? Workflow, WorkflowEventRecord? Event,
    StepExecutionRecord? WokenExecution);

/// <summary>What a finished step run changes, decided by the executor and applied atomically by the store.</summary>
internal sealed record StepCompletion
{
    public required StepExecutionState ExecutionState { get; init; }

    public required StepOutcome Outcome { get; init; }

    public required WorkflowState WorkflowState { get; init; }

    /// <summary>The step the workflow points at next (to run, or to resume at when paused).</summary>
    public string? NextStepName { get; init; }

    /// <summary>The execution to create, when the workflow goes on.</summary>
    public NextStep? Schedule { get; init; }

    public string? ErrorClassName { get; init; }

    public string? ErrorMessage { get; init; }

    public string? ErrorBacktrace { get; init; }

    public string? Metadata { get; init; }

    /// <summary>
    /// The Hangfire job that will run <see cref="Schedule"/> (set when an interrupted job is requeued by
    /// Hangfire and must run the new attempt itself); null when a new job is to be dispatched.
    /// </summary>
    public string? HandOverToJobId { get; init; }

    /// <summary>What the run decided, in words: kept as the workflow's reason when it ends up paused or canceled.</summary>
    public string? Reason { get; init; }

    /// <summary>When the step runs again, it starts over instead of resuming from its saved cursor (<c>Reattempt(rewind: true)</c>).</summary>
    public bool RewindCursor { get; init; }

    /// <summary>
    /// A resumable step's cursor that its run moved past the last checkpoint: finalize saves it on the closed
    /// execution (under the lease, in the same transaction) before anything else, so the next attempt starts after it.
    /// </summary>
    public Definition.CursorJson? UnsavedCursor { get; init; }

    /// <summary>
    /// The live step the run ran as when its row names the step by a former name (<c>steps.Renamed</c>): a new
    /// execution of that step continues this one's logical attempt and cursor.
    /// </summary>
    public string? RanAs { get; init; }

    /// <summary>
    /// The gate whose timeout this completion applies (the run found no event by its deadline). Finalize looks again,
    /// under the workflow's lock: an event that came meanwhile wins, and the step runs again now to take it.
    /// </summary>
    public WaitGate? TimedOut { get; init; }

    /// <summary>The event the run's gate took; finalize marks it consumed by this execution.</summary>
    public long? ConsumeEventId { get; init; }
}

/// <summary>How a finalize ended.</summary>
internal enum FinalizeOutcome
{
    /// <summary>The completion was recorded.</summary>
    Applied,

    /// <summary>The workflow was paused or canceled from outside while the step ran: the execution was closed as canceled.</summary>
    WorkflowChangedOutside,

    /// <summary>This run no longer holds the lease (it was taken over): nothing was written.</summary>
    LeaseLost,

    /// <summary>The execution or workflow no longer exists.</summary>
    NotFound,
}

/// <summary>The result of a finalize.</summary>
internal sealed record FinalizeResult(
    FinalizeOutcome Outcome,
    WorkflowRecord? Workflow = null,
    StepExecutionRecord? Execution = null,
    StepExecutionRecord? NextExecution = null)
{
    /// <summary>Set when finalize recorded something other than the run's decision (an event came before its timeout was applied), saying what.</summary>
    public string? AppliedInstead { get; init; }

    /// <summary>The parent this workflow's end woke (see <see cref="ControlResult.WokenParent"/>).</summary>
    public WokenParent? WokenParent { get; init; }
}

/// <summary>
/// The result of an external control operation: the workflow, the execution it kept or created
/// (<paramref name="Execution"/>), and the execution it ended (<paramref name="Ended"/>), whose pending job can go.
/// </summary>
internal sealed record ControlResult(WorkflowRecord Workflow, StepExecutionRecord? Execution, StepExecutionRecord? Ended = null)
{
    /// <summary>The parent this workflow's end woke (its waiting step moved to now): the caller dispatches it after the commit.</summary>
    public WokenParent? WokenParent { get; init; }
}

/// <summary>A parent workflow whose <c>WaitForChildren</c> step a child's end (or pause) moved to now.</summary>
internal sealed record WokenParent(WorkflowRecord Workflow, StepExecutionRecord Execution);

/// <summary>One page of workflows and the total matching the filter.</summary>
internal sealed record WorkflowPage(IReadOnlyList<WorkflowRecord> Items, long Total);

/// <summary>What one cleanup batch deleted.</summary>
internal sealed record CleanupBatch(int WorkflowsDeleted, int StepExecutionsDeleted);

/// <summary>Why a heartbeat tells its run to stop, and the words for the log and the history.</summary>
internal sealed record StopNews(StepStopReason Reason, string Text);
