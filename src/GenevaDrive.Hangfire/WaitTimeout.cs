namespace GenevaDrive;

/// <summary>What happens when a step waited for an event until its timeout and the event did not come.</summary>
public enum WaitTimeout
{
    /// <summary>Pause the workflow at the waiting step; Resume waits again for the full timeout (the default).</summary>
    Pause,

    /// <summary>Cancel the workflow.</summary>
    Cancel,

    /// <summary>
    /// Go on without the event: a declared <c>WaitFor</c> step completes and the next step runs; a step gated by
    /// <c>StepResult.WaitFor</c> runs its body (which finds no event).
    /// </summary>
    Continue,

    /// <summary>Skip the waiting step and go on with the one after it.</summary>
    Skip,
}
