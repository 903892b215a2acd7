using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>Reads stored timestamps as UTC whatever kind the provider hands back.</summary>
internal static class UtcTimes
{
    public static DateTime AsUtc(DateTime value) =>
        value.Kind == DateTimeKind.Utc ? value : DateTime.SpecifyKind(value, DateTimeKind.Utc);

    public static DateTime? AsUtc(DateTime? value) => value is { } v ? AsUtc(v) : null;

    /// <summary>Every database keeps at least millisecond precision; "now" is truncated to it so round trips compare equal.</summary>
    public static DateTime Now(TimeProvider time) => ToMillisecond(time.GetUtcNow().UtcDateTime);

    /// <summary>A time as UTC, truncated to whole milliseconds (as <see cref="Now"/> is), e.g. one read from the database's clock.</summary>
    public static DateTime ToMillisecond(DateTime value)
    {
        var utc = AsUtc(value);
        return new DateTime(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);
    }
}

/// <summary>A row of the Workflows table.</summary>
internal sealed class WorkflowRecord
{
    private DateTime _createdAt;
    private DateTime _updatedAt;
    private DateTime? _startedAt;
    private DateTime? _transitionedAt;

    public long Id { get; set; }

    public string Type { get; set; } = "";

    public string HeroType { get; set; } = "";

    public string HeroId { get; set; } = "";

    public string State { get; set; } = "";

    public string? CurrentStepName { get; set; }

    public string? NextStepName { get; set; }

    public bool AllowMultiple { get; set; }

    /// <summary>The Hangfire job whose failure or deletion paused this workflow; requeueing that job retries the step.</summary>
    public string? PausedByJobId { get; set; }

    /// <summary>Why the workflow is paused or canceled, in words; null in other states.</summary>
    public string? StateReason { get; set; }

    /// <summary>The W3C trace context (<c>traceparent</c>) captured when the workflow started; its steps' spans are its children.</summary>
    public string? TraceParent { get; set; }

    /// <summary>The workflow whose step started this one as a child; null for a top-level workflow.</summary>
    public long? ParentWorkflowId { get; set; }

    /// <summary>The parent's step that started this child (the child's group); null for a top-level workflow.</summary>
    public string? ParentStepName { get; set; }

    public DateTime CreatedAt { get => _createdAt; set => _createdAt = UtcTimes.AsUtc(value); }

    public DateTime UpdatedAt { get => _updatedAt; set => _updatedAt = UtcTimes.AsUtc(value); }

    public DateTime? StartedAt { get => _startedAt; set => _startedAt = UtcTimes.AsUtc(value); }

    public DateTime? TransitionedAt { get => _transitionedAt; set => _transitionedAt = UtcTimes.AsUtc(value); }

    public WorkflowState WorkflowState => StateNames.ParseWorkflowState(State);
}

/// <summary>A row of the StepExecutions table.</summary>
internal sealed class StepExecutionRecord
{
    private DateTime _scheduledFor;
    private DateTime? _startedAt;
    private DateTime? _completedAt;
    private DateTime? _failedAt;
    private DateTime? _canceledAt;
    private DateTime? _skippedAt;
    private DateTime? _finishedAt;
    private DateTime? _heartbeatAt;
    private DateTime? _dispatchedAt;
    private DateTime? _leaseExpiresAt;
    private DateTime _createdAt;
    private DateTime _updatedAt;

    public long Id { get; set; }

    public long WorkflowId { get; set; }

    public string StepName { get; set; } = "";

    public string State { get; set; } = "";

    public string? Outcome { get; set; }

    public DateTime ScheduledFor { get => _scheduledFor; set => _scheduledFor = UtcTimes.AsUtc(value); }

    public DateTime? StartedAt { get => _startedAt; set => _startedAt = UtcTimes.AsUtc(value); }

    public DateTime? CompletedAt { get => _completedAt; set => _completedAt = UtcTimes.AsUtc(value); }

    public DateTime? FailedAt { get => _failedAt; set => _failedAt = UtcTimes.AsUtc(value); }

    public DateTime? CanceledAt { get => _canceledAt; set => _canceledAt = UtcTimes.AsUtc(value); }

    public DateTime? SkippedAt { get => _skippedAt; set => _skippedAt = UtcTimes.AsUtc(value); }

    public DateTime? FinishedAt { get => _finishedAt; set => _finishedAt = UtcTimes.AsUtc(value); }

    public string? ErrorClassName { get; set; }

    public string? ErrorMessage { get; set; }

    public string? ErrorBacktrace { get; set; }

    public string? JobId { get; set; }

    /// <summary>When <see cref="JobId"/> was created, moved to its queue, or handed over; the reconciler measures staleness from it.</summary>
    public DateTime? DispatchedAt { get => _dispatchedAt; set => _dispatchedAt = UtcTimes.AsUtc(value); }

    public string? LeaseToken { get; set; }

    public DateTime? HeartbeatAt { get => _heartbeatAt; set => _heartbeatAt = UtcTimes.AsUtc(value); }

    public DateTime? LeaseExpiresAt { get => _leaseExpiresAt; set => _leaseExpiresAt = UtcTimes.AsUtc(value); }

    public string? Metadata { get; set; }

    /// <summary>
    /// The logical attempt this execution belongs to, from 1: a reattempt or a retry after a failure starts the
    /// next one; a takeover, an interruption or a time slice continues the same one (its idempotency key stays).
    /// </summary>
    public int Attempt { get; set; } = 1;

    /// <summary>A resumable step's cursor as JSON: inherited from the execution before it, then saved by its checkpoints.</summary>
    public string? Cursor { get; set; }

    /// <summary>How many checkpoints this execution saved.</summary>
    public int Checkpoints { get; set; }

    /// <summary>The event this scheduled execution waits for before its step runs (a gate); null for none.</summary>
    public string? WaitingFor { get; set; }

    /// <summary>Until when the gate waits (its timeout); null for a gate not armed yet (it is armed when it runs).</summary>
    public DateTime? WaitUntil { get => _waitUntil; set => _waitUntil = UtcTimes.AsUtc(value); }

    private DateTime? _waitUntil;

    public DateTime CreatedAt { get => _createdAt; set => _createdAt = UtcTimes.AsUtc(value); }

    public DateTime UpdatedAt { get => _updatedAt; set => _updatedAt = UtcTimes.AsUtc(value); }

    public StepExecutionState ExecutionState => StateNames.ParseStepExecutionState(State);

    public StepOutcome? StepOutcome => Outcome is null ? null : StateNames.ParseOutcome(Outcome);

    public StepExecutionMetadata ParsedMetadata => StepExecutionMetadata.Parse(Metadata);

    /// <summary>Moves this record to <paramref name="target"/> after checking the state machine, stamping the matching times.</summary>
    public void TransitionTo(StepExecutionState target, DateTime now)
    {
        StateTransitions.EnsureAllowed(ExecutionState, target);
        State = target.ToStored();
        UpdatedAt = now;
        switch (target)
        {
            case StepExecutionState.InProgress:
                StartedAt = now;
                break;
            case StepExecutionState.Completed:
                CompletedAt = now;
                FinishedAt = now;
                break;
            case StepExecutionState.Failed:
                FailedAt = now;
                FinishedAt = now;
                break;
            case StepExecutionState.Canceled:
                CanceledAt = now;
                FinishedAt = now;
                break;
            case StepExecutionState.Skipped:
                SkippedAt = now;
                FinishedAt = now;
                break;
        }

        if (StateTransitions.IsTerminal(target))
        {
            LeaseToken = null;
            LeaseExpiresAt = null;
        }
    }
}

/// <summary>A row of the WorkflowEvents table: an event sent to a workflow, kept until a waiting step consumes it.</summary>
internal sealed class WorkflowEventRecord
{
    private DateTime _createdAt;
    private DateTime? _consumedAt;

    public long Id { get; set; }

    public long WorkflowId { get; set; }

    public string Name { get; set; } = "";

    /// <summary>The sender's id for this event; a second delivery with the same key is a duplicate.</summary>
    public string EventKey { get; set; } = "";

    /// <summary>The payload as JSON, or null.</summary>
    public string? Payload { get; set; }

    /// <summary>The sender's W3C trace context, linked from the step that consumes the event.</summary>
    public string? TraceParent { get; set; }

    public DateTime CreatedAt { get => _createdAt; set => _createdAt = UtcTimes.AsUtc(value); }

    public DateTime? ConsumedAt { get => _consumedAt; set => _consumedAt = UtcTimes.AsUtc(value); }

    public long? ConsumedByExecutionId { get; set; }
}

/// <summary>
/// A row of the Operations table: a write command's operation id, written in the command's own transaction, so a
/// repeat of that transaction after a lost commit acknowledgement finds it and returns the first attempt's result
/// instead of applying the command twice. Kept for <c>OperationRetention</c>, then deleted by the cleanup.
/// </summary>
internal sealed class OperationRecord
{
    private DateTime _createdAt;

    /// <summary>The operation id (32 hex digits), unique per command call.</summary>
    public string OperationId { get; set; } = "";

    public long WorkflowId { get; set; }

    /// <summary>The command: start, pause, resume, cancel, skip, jump, event.</summary>
    public string Command { get; set; } = "";

    /// <summary>The command's outcome where it has several (an event delivery's), else null.</summary>
    public string? Outcome { get; set; }

    /// <summary>The execution the command created or kept (the one to dispatch), if any.</summary>
    public long? ExecutionId { get; set; }

    /// <summary>The execution the command ended (skipped or canceled), if any.</summary>
    public long? EndedExecutionId { get; set; }

    /// <summary>The event row a delivery wrote or found.</summary>
    public long? EventId { get; set; }

    public DateTime CreatedAt { get => _createdAt; set => _createdAt = UtcTimes.AsUtc(value); }

    /// <summary>Not a column: the command wrote this row in its own statement (a start in one statement).</summary>
    public bool WrittenByCommand { get; set; }

    /// <summary>Not a column: the command's batch also committed the transaction, or is about to.</summary>
    public bool CommittedByCommand { get; set; }
}
