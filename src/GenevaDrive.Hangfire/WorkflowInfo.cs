using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive;

/// <summary>A snapshot of a workflow instance.</summary>
public sealed record WorkflowInfo
{
    /// <summary>The workflow id.</summary>
    public required long Id { get; init; }

    /// <summary>The stable workflow name (see <see cref="WorkflowNameAttribute"/>).</summary>
    public required string Name { get; init; }

    /// <summary>The hero's type name.</summary>
    public required string HeroType { get; init; }

    /// <summary>The hero's id.</summary>
    public required string HeroId { get; init; }

    /// <summary>The state.</summary>
    public required WorkflowState State { get; init; }

    /// <summary>The step running now, if any.</summary>
    public string? CurrentStepName { get; init; }

    /// <summary>The step that runs next (or that a paused workflow resumes at).</summary>
    public string? NextStepName { get; init; }

    /// <summary>Whether other ongoing workflows of the same type may exist for the hero.</summary>
    public bool AllowMultiple { get; init; }

    /// <summary>When it was created (UTC).</summary>
    public DateTime CreatedAt { get; init; }

    /// <summary>When it last changed (UTC).</summary>
    public DateTime UpdatedAt { get; init; }

    /// <summary>When it entered paused, finished or canceled (UTC); null otherwise.</summary>
    public DateTime? TransitionedAt { get; init; }

    /// <summary>
    /// Why it is paused or canceled, in words: the step, execution and Hangfire job that caused it and what
    /// happened (an exception and its policy, the step's own result, a reattempt limit), a deleted step job,
    /// a pause or cancel through the client, a lost worker. Null in other states.
    /// </summary>
    public string? StateReason { get; init; }

    /// <summary>
    /// The step before <see cref="CurrentStepName"/> (or, when none runs, before <see cref="NextStepName"/>) in the
    /// workflow's run order; null at the first step, for an ended workflow, or when its type is not registered here.
    /// </summary>
    public string? PreviousStepName { get; init; }

    /// <summary>The workflow whose <c>StartChildren</c> step started this one; null for a top-level workflow.</summary>
    public long? ParentWorkflowId { get; init; }

    /// <summary>The parent's step that started this child; null for a top-level workflow.</summary>
    public string? ParentStepName { get; init; }

    internal static WorkflowInfo From(WorkflowRecord r, Definition.WorkflowRegistry? registry = null) =>
        From(r) with { PreviousStepName = PreviousOf(r, registry) };

    private static string? PreviousOf(WorkflowRecord r, Definition.WorkflowRegistry? registry)
    {
        if (registry is null || (r.CurrentStepName ?? r.NextStepName) is not { } at || registry.FindType(r.Type) is not { } type)
        {
            return null;
        }

        return registry.TryGetDefinition(type)?.Steps.PreviousBefore(at)?.Name;
    }

    internal static WorkflowInfo From(WorkflowRecord r) => new()
    {
        Id = r.Id,
        Name = r.Type,
        HeroType = r.HeroType,
        HeroId = r.HeroId,
        State = r.WorkflowState,
        CurrentStepName = r.CurrentStepName,
        NextStepName = r.NextStepName,
        AllowMultiple = r.AllowMultiple,
        CreatedAt = r.CreatedAt,
        UpdatedAt = r.UpdatedAt,
        TransitionedAt = r.TransitionedAt,
        StateReason = r.StateReason,
        ParentWorkflowId = r.ParentWorkflowId,
        ParentStepName = r.ParentStepName,
    };
}

/// <summary>A snapshot of one attempt to run a step.</summary>
public sealed record StepExecutionInfo
{
    /// <summary>The step execution id.</summary>
    public required long Id { get; init; }

    /// <summary>The workflow id.</summary>
    public required long WorkflowId { get; init; }

    /// <summary>The step name.</summary>
    public required string StepName { get; init; }

    /// <summary>The state.</summary>
    public required StepExecutionState State { get; init; }

    /// <summary>The outcome once it ended.</summary>
    public StepOutcome? Outcome { get; init; }

    /// <summary>When it is or was due (UTC).</summary>
    public DateTime ScheduledFor { get; init; }

    /// <summary>When it started (UTC).</summary>
    public DateTime? StartedAt { get; init; }

    /// <summary>When it ended (UTC).</summary>
    public DateTime? FinishedAt { get; init; }

    /// <summary>The exception type, when it failed.</summary>
    public string? ErrorClassName { get; init; }

    /// <summary>The exception message, when it failed.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>The exception with its stack trace, when it failed.</summary>
    public string? ErrorBacktrace { get; init; }

    /// <summary>The Hangfire job that runs or ran it.</summary>
    public string? JobId { get; init; }

    /// <summary>Why it was reattempted: <c>flow_control</c>, <c>exception_policy</c> or <c>precondition</c>.</summary>
    public string? ReattemptReason { get; init; }

    /// <summary>The logical attempt of the step this execution belongs to, from 1 (see <see cref="StepContext.Attempt"/>).</summary>
    public int Attempt { get; init; } = 1;

    /// <summary>The idempotency key of that attempt (see <see cref="StepContext.IdempotencyKey"/>).</summary>
    public string IdempotencyKey => StepContext.BuildIdempotencyKey(WorkflowId, StepName, Attempt);

    /// <summary>For a resumable step: the cursor (JSON) it started from, then the one its last checkpoint saved; otherwise <see langword="null"/>.</summary>
    public string? Cursor { get; init; }

    /// <summary>For a resumable step: how many checkpoints this execution saved.</summary>
    public int Checkpoints { get; init; }

    /// <summary>For a reattempt planned by a backoff: the backoff and the wait it chose, e.g. <c>Exponential(…): reattempt 3 waits 0:00:20</c>.</summary>
    public string? Backoff { get; init; }

    /// <summary>
    /// Who changed the workflow at this execution, and how, when an operator or code did (e.g. <c>dashboard user 'ana'
    /// jumped from 'b' to 'c'</c>, <c>code skipped 'b'</c>); otherwise <see langword="null"/>.
    /// </summary>
    public string? OperatorNote { get; init; }

    internal static StepExecutionInfo From(StepExecutionRecord r) => new()
    {
        Id = r.Id,
        WorkflowId = r.WorkflowId,
        StepName = r.StepName,
        State = r.ExecutionState,
        Outcome = r.StepOutcome,
        ScheduledFor = r.ScheduledFor,
        StartedAt = r.StartedAt,
        FinishedAt = r.FinishedAt,
        ErrorClassName = r.ErrorClassName,
        ErrorMessage = r.ErrorMessage,
        ErrorBacktrace = r.ErrorBacktrace,
        JobId = r.JobId,
        ReattemptReason = r.ParsedMetadata.ReattemptReason,
        Attempt = r.Attempt,
        Cursor = r.Cursor,
        Checkpoints = r.Checkpoints,
        Backoff = r.ParsedMetadata.Backoff,
        OperatorNote = r.ParsedMetadata.Operator,
    };
}

/// <summary>Options for starting one workflow.</summary>
public sealed record StartOptions
{
    /// <summary>
    /// Allows this workflow to run beside other ongoing workflows of the same type for the same hero.
    /// <value>The default value is <see langword="false"/>: a second start throws <see cref="WorkflowAlreadyExistsException"/>.</value>
    /// </summary>
    public bool AllowMultiple { get; init; }
}
