namespace GenevaDrive;

/// <summary>How a workflow took an event sent to it.</summary>
public enum EventDeliveryOutcome
{
    /// <summary>A step was waiting for it: the step runs now.</summary>
    Delivered,

    /// <summary>No step waits for it yet: it is kept, and the first step that waits for an event of its name takes it at once.</summary>
    Kept,

    /// <summary>
    /// An event with the same name and id was delivered before; nothing new is kept. If a step still waits for the
    /// original, it is woken again (its first wake-up may have been lost).
    /// </summary>
    Duplicate,

    /// <summary>The workflow has finished or was canceled; the event was not kept.</summary>
    WorkflowEnded,

    /// <summary>
    /// The step that waited for an event of this name has stopped waiting (its timeout was applied, or an operator skipped
    /// it) and no step waits now: the event is recorded (the dashboard shows it) but not kept, so a later wait for the
    /// same name does not take it.
    /// </summary>
    TooLate,
}

/// <summary>The result of sending an event to one workflow.</summary>
public sealed record EventDelivery
{
    /// <summary>The workflow the event was sent to.</summary>
    public required long WorkflowId { get; init; }

    /// <summary>The event's name.</summary>
    public required string EventName { get; init; }

    /// <summary>The event's id: the one given, or a generated one. A second delivery with the same id is ignored.</summary>
    public required string EventId { get; init; }

    /// <summary>How the workflow took it.</summary>
    public required EventDeliveryOutcome Outcome { get; init; }
}

/// <summary>An event a workflow received, as the API and the dashboard show it.</summary>
public sealed record WorkflowEventInfo
{
    /// <summary>The event's row id.</summary>
    public required long Id { get; init; }

    /// <summary>The event's name.</summary>
    public required string Name { get; init; }

    /// <summary>The sender's id for it (deduplication key).</summary>
    public required string EventId { get; init; }

    /// <summary>The payload as JSON, or null.</summary>
    public string? PayloadJson { get; init; }

    /// <summary>When it was received (UTC).</summary>
    public DateTime ReceivedAt { get; init; }

    /// <summary>When a waiting step took it (UTC); null while it is kept.</summary>
    public DateTime? ConsumedAt { get; init; }

    /// <summary>The step execution that took it.</summary>
    public long? ConsumedByStepExecutionId { get; init; }

    internal static WorkflowEventInfo From(Store.WorkflowEventRecord r) => new()
    {
        Id = r.Id,
        Name = r.Name,
        EventId = r.EventKey,
        PayloadJson = r.Payload,
        ReceivedAt = r.CreatedAt,
        ConsumedAt = r.ConsumedAt,
        ConsumedByStepExecutionId = r.ConsumedByExecutionId,
    };
}
