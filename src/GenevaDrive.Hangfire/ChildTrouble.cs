namespace GenevaDrive;

/// <summary>What a child's cancel, or a child that pauses, means for a parent waiting in <see cref="WorkflowBuilder.WaitForChildren"/>.</summary>
public enum ChildTrouble
{
    /// <summary>
    /// The wait goes on: a canceled child counts as ended (not as finished); a paused child is still ongoing, so the wait's
    /// timeout decides when it has been paused too long. The default.
    /// </summary>
    Ignore,

    /// <summary>
    /// The wait fails at once with <see cref="ChildWorkflowsFailedException"/>, which the wait step's exception policy (or the
    /// workflow's) handles like any other exception.
    /// </summary>
    FailWait,

    /// <summary>
    /// The parent pauses at the wait with a reason naming the child (for a paused child only: a canceled child cannot be
    /// resumed). Resume the child, then the parent: the wait looks again.
    /// </summary>
    PauseParent,
}
