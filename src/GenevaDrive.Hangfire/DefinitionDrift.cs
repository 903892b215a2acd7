namespace GenevaDrive;

/// <summary>How the step that in-flight workflows stand at relates to this build's definitions.</summary>
public enum DriftKind
{
    /// <summary>The workflow type defines no such step and declares no rename or retirement of it: the workflows cannot go on in this build.</summary>
    StepNotDefined,

    /// <summary>No workflow class of this build has the stored <c>[WorkflowName]</c>.</summary>
    WorkflowNotRegistered,

    /// <summary>The step is declared renamed (<c>steps.Renamed</c>): the workflows run the new step. Keep the declaration while the count is not zero.</summary>
    Renamed,

    /// <summary>The step is declared retired (<c>steps.Retired</c>): the workflows continue where it says. Keep the declaration while the count is not zero.</summary>
    Retired,
}

/// <summary>In-flight workflows of one type, in one state, standing at one step that this build does not define as a live step.</summary>
/// <param name="WorkflowName">The stored workflow name (<c>[WorkflowName]</c>).</param>
/// <param name="StepName">The step the workflows stand at (the running step, else the next one).</param>
/// <param name="State">Ready, performing or paused.</param>
/// <param name="Count">How many workflows.</param>
/// <param name="Kind">Whether this build can carry them on (a declared rename or retirement) or not.</param>
public sealed record DriftedStep(string WorkflowName, string StepName, WorkflowState State, long Count, DriftKind Kind)
{
    /// <summary>True when this build cannot carry these workflows on: the step (or the type) is neither defined nor declared.</summary>
    public bool IsProblem => Kind is DriftKind.StepNotDefined or DriftKind.WorkflowNotRegistered;
}

/// <summary>
/// The definition drift report (<see cref="IWorkflowClient.GetDefinitionDriftAsync"/>): in-flight workflows — ready,
/// performing or paused — standing at a step this build does not define as a live step, by type, step and state.
/// </summary>
/// <param name="Steps">Every such group; those with <see cref="DriftedStep.IsProblem"/> need a deploy, a declaration or an operator.</param>
/// <param name="CheckedAt">When the report was made.</param>
public sealed record DefinitionDrift(IReadOnlyList<DriftedStep> Steps, DateTimeOffset CheckedAt)
{
    /// <summary>The groups this build cannot carry on.</summary>
    public IEnumerable<DriftedStep> Problems => Steps.Where(s => s.IsProblem);

    /// <summary>How many in-flight workflows stand at a step this build neither defines nor declares.</summary>
    public long ProblemCount => Problems.Sum(s => s.Count);
}
