namespace GenevaDrive;

/// <summary>Describes the step run that a before, around or after hook is called for.</summary>
public sealed class StepContext
{
    internal StepContext(string workflowName, long workflowId, string stepName, long stepExecutionId)
    {
        WorkflowName = workflowName;
        WorkflowId = workflowId;
        StepName = stepName;
        StepExecutionId = stepExecutionId;
    }

    /// <summary>The stable name of the workflow type.</summary>
    public string WorkflowName { get; }

    /// <summary>The id of the workflow instance.</summary>
    public long WorkflowId { get; }

    /// <summary>The name of the step that runs.</summary>
    public string StepName { get; }

    /// <summary>The id of the step execution (this attempt).</summary>
    public long StepExecutionId { get; }
}
