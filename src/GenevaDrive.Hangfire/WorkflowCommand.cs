namespace GenevaDrive;

/// <summary>An operator's command on a workflow, for <see cref="IWorkflowClient.ControlAsync"/>.</summary>
public enum WorkflowCommand
{
    /// <summary>Pause a ready or performing workflow.</summary>
    Pause,

    /// <summary>Resume a paused workflow.</summary>
    Resume,

    /// <summary>Cancel a ready, performing or paused workflow.</summary>
    Cancel,

    /// <summary>Skip the current step of a ready or paused workflow.</summary>
    Skip,
}
