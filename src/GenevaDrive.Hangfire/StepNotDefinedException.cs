namespace GenevaDrive;

/// <summary>
/// Thrown when a step name stored in the database (or asked for by code) is not defined by the
/// workflow, typically because the step was renamed or removed after the row was written.
/// </summary>
public sealed class StepNotDefinedException : GenevaDriveException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="workflowName">The stable name of the workflow.</param>
    /// <param name="stepName">The step name that is not defined.</param>
    /// <param name="definedSteps">The steps the workflow does define.</param>
    public StepNotDefinedException(string workflowName, string stepName, IEnumerable<string> definedSteps)
        : this(workflowName, stepName,
            $"Workflow '{workflowName}' has no step named '{stepName}'. Defined steps: {List(definedSteps)}. If the step was renamed, " +
            $"declare steps.Renamed(\"{stepName}\", to: \"<new name>\"); if it was removed, declare steps.Retired(\"{stepName}\", continueAt: \"<step>\").")
    {
    }

    private StepNotDefinedException(string workflowName, string stepName, string message)
        : base(message)
    {
        WorkflowName = workflowName;
        StepName = stepName;
    }

    private static string List(IEnumerable<string> steps) => string.Join(", ", steps.Select(s => $"'{s}'"));

    /// <summary>A skip, jump or finalize that cannot tell which step follows a name this build does not know.</summary>
    internal static StepNotDefinedException CannotContinue(string workflowName, string stepName, IEnumerable<string> definedSteps,
        long workflowId, string action) =>
        new(workflowName, stepName,
            $"Cannot {action} workflow {workflowId} ('{workflowName}'): its step '{stepName}' is neither defined in this build nor declared " +
            $"renamed or retired, so the step that follows it is unknown (nothing was changed). Defined steps: {List(definedSteps)}. " +
            $"Jump to the step it should continue at (IWorkflowClient.JumpToAsync({workflowId}, \"<step>\"), or Jump on the dashboard), " +
            $"or declare steps.Retired(\"{stepName}\", continueAt: \"<step>\") in the workflow and deploy.");

    /// <summary>A step that no running build defined for the whole grace period: the workflow pauses with this.</summary>
    internal static StepNotDefinedException NoVersionDefines(string workflowName, string stepName, IEnumerable<string> definedSteps,
        TimeSpan waited) =>
        new(workflowName, stepName,
            $"Workflow '{workflowName}' has no step named '{stepName}' in this build (steps: {List(definedSteps)}), and no running version defines it" +
            (waited > TimeSpan.Zero ? $" (released to other workers for {waited:g} without one taking it)" : string.Empty) +
            $". Deploy a build that defines it, or declare steps.Renamed(\"{stepName}\", to: \"<step>\") or steps.Retired(\"{stepName}\", continueAt: \"<step>\"); " +
            "or jump the workflow to a defined step.");

    /// <summary>The stable name of the workflow.</summary>
    public string WorkflowName { get; }

    /// <summary>The step name that is not defined.</summary>
    public string StepName { get; }
}
