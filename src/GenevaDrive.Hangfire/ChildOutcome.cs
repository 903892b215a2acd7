namespace GenevaDrive;

/// <summary>Where one child workflow stands, as its parent reads it (<c>ChildrenAsync</c> on the workflow).</summary>
public sealed class ChildOutcome
{
    internal ChildOutcome(long workflowId, string heroId, WorkflowState state, string? reason, string? resultJson)
    {
        WorkflowId = workflowId;
        HeroId = heroId;
        State = state;
        Reason = reason;
        ResultJson = resultJson;
    }

    /// <summary>The child workflow's id.</summary>
    public long WorkflowId { get; }

    /// <summary>The id of the child's hero.</summary>
    public string HeroId { get; }

    /// <summary>
    /// The child's state: <see cref="WorkflowState.Finished"/> or <see cref="WorkflowState.Canceled"/> when it ended,
    /// <see cref="WorkflowState.Paused"/> when it is paused (after a timed-out wait: paused too long), ready or performing while it runs.
    /// </summary>
    public WorkflowState State { get; }

    /// <summary>Why the child is paused or canceled, in words; null in other states.</summary>
    public string? Reason { get; }

    /// <summary>The result the child recorded (<c>RecordResultAsync</c>), as JSON; null when it recorded none.</summary>
    public string? ResultJson { get; }

    /// <summary>The result the child recorded, read with System.Text.Json; <see langword="default"/> when it recorded none.</summary>
    /// <typeparam name="TResult">The type the child recorded.</typeparam>
    /// <returns>The result.</returns>
    public TResult? Result<TResult>() => ResultJson is null ? default : System.Text.Json.JsonSerializer.Deserialize<TResult>(ResultJson);

    /// <summary>"workflow 12 (hero 7): finished".</summary>
    /// <returns>The outcome in words.</returns>
    public override string ToString() => $"workflow {WorkflowId} (hero {HeroId}): {State.ToString().ToLowerInvariant()}";
}
