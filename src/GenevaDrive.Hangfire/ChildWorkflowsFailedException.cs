namespace GenevaDrive;

/// <summary>
/// A <see cref="WorkflowBuilder.WaitForChildren"/> step cannot be satisfied: a child was canceled or paused under
/// <see cref="ChildTrouble.FailWait"/>, or too few children finished to reach the count it waits for. Handled by the wait
/// step's exception policy, then the workflow's (by default the parent pauses).
/// </summary>
public sealed class ChildWorkflowsFailedException : GenevaDriveException
{
    internal ChildWorkflowsFailedException(long parentWorkflowId, string startedBy, string message)
        : base(message)
    {
        ParentWorkflowId = parentWorkflowId;
        StartedBy = startedBy;
    }

    /// <summary>The waiting parent workflow.</summary>
    public long ParentWorkflowId { get; }

    /// <summary>The parent's step that started the children.</summary>
    public string StartedBy { get; }
}
