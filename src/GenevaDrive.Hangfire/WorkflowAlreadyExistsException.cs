namespace GenevaDrive;

/// <summary>
/// Thrown when starting a workflow for a hero that already has an ongoing (ready, performing or paused)
/// workflow of the same type and the workflow does not allow multiple instances.
/// </summary>
public sealed class WorkflowAlreadyExistsException : GenevaDriveException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="workflowName">The stable name of the workflow.</param>
    /// <param name="heroType">The hero type.</param>
    /// <param name="heroId">The hero id.</param>
    /// <param name="existingWorkflowId">The id of the ongoing workflow, when known.</param>
    /// <param name="innerException">The database error that signalled the conflict, if any.</param>
    public WorkflowAlreadyExistsException(string workflowName, string heroType, string heroId,
        long? existingWorkflowId, Exception? innerException = null)
        : base($"An ongoing '{workflowName}' workflow already exists for {heroType} '{heroId}'" +
               (existingWorkflowId is { } id ? $" (workflow {id})" : string.Empty) +
               ". Only one ongoing workflow per type and hero is allowed; use StartOrGetExistingAsync to reuse it, " +
               "or allow multiple instances for this workflow.", innerException)
    {
        WorkflowName = workflowName;
        HeroType = heroType;
        HeroId = heroId;
        ExistingWorkflowId = existingWorkflowId;
    }

    /// <summary>The stable name of the workflow.</summary>
    public string WorkflowName { get; }

    /// <summary>The hero type.</summary>
    public string HeroType { get; }

    /// <summary>The hero id.</summary>
    public string HeroId { get; }

    /// <summary>The id of the ongoing workflow that blocked the start, when known.</summary>
    public long? ExistingWorkflowId { get; }
}
