namespace GenevaDrive.Definition;

/// <summary>The hooks around every step of a workflow, in declaration order.</summary>
internal sealed class StepHooks
{
    public List<Func<StepContext, CancellationToken, Task>> Before { get; } = [];

    /// <summary>Around hooks; the first declared is the outermost.</summary>
    public List<Func<StepContext, Func<Task>, Task>> Around { get; } = [];

    public List<Func<StepContext, CancellationToken, Task>> After { get; } = [];

    public string Shape => $"hooks={Before.Count}/{Around.Count}/{After.Count}";
}
