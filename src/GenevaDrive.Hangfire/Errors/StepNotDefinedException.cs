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
        : base($"Workflow '{workflowName}' has no step named '{stepName}'. Defined steps: " +
               $"{string.Join(", ", definedSteps.Select(s => $"'{s}'"))}. If the step was renamed or removed, " +
               "keep its old name (or finish the affected workflows) until no row refers to it.")
    {
        WorkflowName = workflowName;
        StepName = stepName;
    }

    /// <summary>The stable name of the workflow.</summary>
    public string WorkflowName { get; }

    /// <summary>The step name that is not defined.</summary>
    public string StepName { get; }
}
