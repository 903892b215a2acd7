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

    /// <summary>
    /// A fencing token for this attempt's side effects: it grows with every new attempt of the workflow's
    /// steps (a reattempt, a takeover after a lost lease, a rerun after an interruption), so a store that
    /// keeps the largest token it has seen per workflow and step can refuse a write carrying a smaller one —
    /// the write of a stale run that kept going after its lease was taken over (a process frozen by the
    /// operating system cannot be stopped from inside; this is how its late writes are rejected).
    /// It is the step execution id.
    /// </summary>
    public long FencingToken => StepExecutionId;
}
