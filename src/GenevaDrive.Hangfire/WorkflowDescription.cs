using GenevaDrive.Definition;

namespace GenevaDrive;

/// <summary>How a step's run-time condition is read.</summary>
public enum StepCondition
{
    /// <summary>The step always runs.</summary>
    None,

    /// <summary>The step is skipped when its <c>skipIf</c> condition is true.</summary>
    SkipIf,

    /// <summary>The step runs only when its <c>onlyIf</c> condition is true.</summary>
    OnlyIf,
}

/// <summary>A read-only view of one defined step, as the workflow's <c>Define</c> declared it.</summary>
public sealed record StepDescription
{
    /// <summary>The step's name.</summary>
    public required string Name { get; init; }

    /// <summary>Its position in run order, from 0.</summary>
    public required int Index { get; init; }

    /// <summary>The wait after the previous step; null for none.</summary>
    public TimeSpan? Wait { get; init; }

    /// <summary>Its run-time condition.</summary>
    public StepCondition Condition { get; init; }

    /// <summary>The step's own exception policy; null when the workflow-level policies decide.</summary>
    public ExceptionPolicy? ExceptionPolicy { get; init; }

    /// <summary>For a <c>WaitFor</c> step: the event it waits for; otherwise null.</summary>
    public string? WaitsForEvent { get; init; }

    /// <summary>For a <c>WaitFor</c> step: how long it waits.</summary>
    public TimeSpan? WaitTimeout { get; init; }

    /// <summary>For a <c>WaitFor</c> step: what happens on timeout.</summary>
    public WaitTimeout? OnTimeout { get; init; }

    /// <summary>True for a resumable step (<c>ResumableStep&lt;TCursor&gt;</c>).</summary>
    public bool IsResumable { get; init; }

    /// <summary>For a resumable step: its time slice; null for none.</summary>
    public TimeSpan? MaxRunTime { get; init; }
}

/// <summary>A read-only view of a registered workflow's definition: its steps in run order and its options.</summary>
public sealed record WorkflowDescription
{
    /// <summary>The stable workflow name (see <see cref="WorkflowNameAttribute"/>).</summary>
    public required string Name { get; init; }

    /// <summary>The workflow class.</summary>
    public required Type WorkflowType { get; init; }

    /// <summary>The hero type.</summary>
    public required Type HeroType { get; init; }

    /// <summary>The Hangfire queue its step jobs run on.</summary>
    public required string Queue { get; init; }

    /// <summary>Whether it runs its steps after its hero was deleted.</summary>
    public bool MayProceedWithoutHero { get; init; }

    /// <summary>The steps in run order.</summary>
    public required IReadOnlyList<StepDescription> Steps { get; init; }

    /// <summary>The step named <paramref name="stepName"/>, or null.</summary>
    /// <param name="stepName">A step name.</param>
    /// <returns>The step, or null when there is none of that name.</returns>
    public StepDescription? Find(string stepName) => Steps.FirstOrDefault(s => s.Name == stepName);

    /// <summary>The step after <paramref name="stepName"/> in run order; null after the last step or for an unknown name.</summary>
    /// <param name="stepName">A step name.</param>
    /// <returns>The next step, or null.</returns>
    public StepDescription? NextAfter(string stepName) => Find(stepName) is { } step && step.Index + 1 < Steps.Count ? Steps[step.Index + 1] : null;

    /// <summary>The step before <paramref name="stepName"/> in run order; null for the first step or an unknown name.</summary>
    /// <param name="stepName">A step name.</param>
    /// <returns>The previous step, or null.</returns>
    public StepDescription? PreviousBefore(string stepName) => Find(stepName) is { Index: > 0 } step ? Steps[step.Index - 1] : null;

    internal static WorkflowDescription From(WorkflowDefinition definition) => new()
    {
        Name = definition.Name,
        WorkflowType = definition.WorkflowType,
        HeroType = definition.HeroType,
        Queue = definition.Queue,
        MayProceedWithoutHero = definition.MayProceedWithoutHero,
        Steps = definition.Steps.Select((s, i) => new StepDescription
        {
            Name = s.Name,
            Index = i,
            Wait = s.Wait,
            Condition = s.ConditionKind switch
            {
                StepConditionKind.SkipIf => StepCondition.SkipIf,
                StepConditionKind.OnlyIf => StepCondition.OnlyIf,
                _ => StepCondition.None,
            },
            ExceptionPolicy = s.ExceptionPolicy,
            WaitsForEvent = s.WaitEvent,
            WaitTimeout = s.WaitEvent is null ? null : s.WaitTimeout,
            OnTimeout = s.WaitEvent is null ? null : s.OnTimeout,
            IsResumable = s.Resumable is not null,
            MaxRunTime = s.MaxRunTime,
        }).ToList(),
    };
}
