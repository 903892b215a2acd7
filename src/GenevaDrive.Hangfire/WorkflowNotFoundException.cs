namespace GenevaDrive;

/// <summary>Thrown when an operation names a workflow id that does not exist (never created, or cleaned up).</summary>
public sealed class WorkflowNotFoundException : GenevaDriveException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="workflowId">The id that was not found.</param>
    public WorkflowNotFoundException(long workflowId)
        : base($"Workflow {workflowId} does not exist. It may never have been created, or it was deleted by cleanup after it ended.")
    {
        WorkflowId = workflowId;
    }

    /// <summary>The id that was not found.</summary>
    public long WorkflowId { get; }
}
