namespace GenevaDrive.Definition;

/// <summary>How a step's run-time condition is read.</summary>
internal enum StepConditionKind
{
    None,

    /// <summary>The step is skipped when the condition is true.</summary>
    SkipIf,

    /// <summary>The step runs only when the condition is true (skipped otherwise).</summary>
    OnlyIf,
}

/// <summary>One declared step, bound to the workflow instance whose <c>Define</c> declared it.</summary>
internal sealed class StepDefinition
{
    public required string Name { get; init; }

    public required Func<CancellationToken, Task<StepResult>> Body { get; init; }

    public TimeSpan? Wait { get; init; }

    public StepConditionKind ConditionKind { get; init; }

    public Func<bool>? Condition { get; init; }

    /// <summary>The step's own policy; <see langword="null"/> when none was given explicitly.</summary>
    public ExceptionPolicy? ExceptionPolicy { get; init; }

    public string? BeforeStep { get; init; }

    public string? AfterStep { get; init; }

    public required SourceLocation Source { get; init; }

    /// <summary>For a resumable step: runs the body with an iteration over the saved cursor (then <see cref="Body"/> is not used).</summary>
    public Func<ResumableRun, CancellationToken, Task<StepResult>>? Resumable { get; init; }

    /// <summary>For a resumable step: the cursor type.</summary>
    public Type? CursorType { get; init; }

    /// <summary>For a resumable step: how long one attempt may run before it yields its worker at a checkpoint; null for no limit.</summary>
    public TimeSpan? MaxRunTime { get; init; }

    /// <summary>For a resumable step: the least time between two checkpoints that iteration helpers save.</summary>
    public TimeSpan CheckpointEvery { get; init; }

    /// <summary>For a <c>WaitFor</c> step: the event it waits for; null for other steps.</summary>
    public string? WaitEvent { get; init; }

    /// <summary>For a <c>WaitFor</c> step: how long it waits.</summary>
    public TimeSpan WaitTimeout { get; init; }

    /// <summary>For a <c>WaitFor</c> step: what happens when the event does not come in time.</summary>
    public WaitTimeout OnTimeout { get; init; }

    /// <summary>For a <c>WaitForChildren</c> step: the children it waits for (its <see cref="WaitEvent"/> is their gate's event).</summary>
    public Store.ChildrenGate? Children { get; init; }

    /// <summary>For a <c>StartChildren</c> step: whether canceling the workflow cancels the children it started.</summary>
    public bool? CancelChildrenWithParent { get; init; }

    /// <summary>How this step is scheduled when the workflow reaches it: after its wait, or gated by its event.</summary>
    public Store.NextStep Schedule() => WaitEvent is { } eventName
        ? new Store.NextStep(Name, WaitTimeout, new Store.WaitGate(eventName, WaitTimeout, OnTimeout, Children: Children))
        : new Store.NextStep(Name, Wait ?? TimeSpan.Zero);

    /// <summary>True when the condition says the step should not run now.</summary>
    public bool ShouldSkip() => ConditionKind switch
    {
        StepConditionKind.SkipIf => Holds(Condition!),
        StepConditionKind.OnlyIf => !Holds(Condition!),
        _ => false,
    };

    /// <summary>A condition that reads a hero who no longer exists (under <c>MayProceedWithoutHero</c>) does not hold.</summary>
    public static bool Holds(Func<bool> condition)
    {
        try
        {
            return condition();
        }
        catch (HeroMissingException)
        {
            return false;
        }
    }

    /// <summary>Everything that must be identical between two instances of the same workflow type.</summary>
    public string Shape =>
        $"{Name}|wait={Wait?.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"}|{ConditionKind}|" +
        $"policy={ExceptionPolicy?.ToString() ?? "-"}|before={BeforeStep ?? "-"}|after={AfterStep ?? "-"}" +
        (WaitEvent is null ? string.Empty : $"|waitFor={WaitEvent}|timeout={WaitTimeout.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)}|onTimeout={OnTimeout}") +
        (Resumable is null ? string.Empty : $"|resumable={CursorType?.FullName}|slice={MaxRunTime?.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"}|every={CheckpointEvery.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    /// <summary>The same as comparing <see cref="Shape"/>, field by field, without building the text.</summary>
    public bool HasSameShapeAs(StepDefinition other) =>
        Name == other.Name && Wait == other.Wait && ConditionKind == other.ConditionKind &&
        (ReferenceEquals(ExceptionPolicy, other.ExceptionPolicy) || ExceptionPolicy?.ToString() == other.ExceptionPolicy?.ToString()) &&
        BeforeStep == other.BeforeStep && AfterStep == other.AfterStep &&
        WaitEvent == other.WaitEvent && (WaitEvent is null || (WaitTimeout == other.WaitTimeout && OnTimeout == other.OnTimeout)) &&
        (Resumable is null) == (other.Resumable is null) &&
        (Resumable is null || (CursorType == other.CursorType && MaxRunTime == other.MaxRunTime && CheckpointEvery == other.CheckpointEvery));

    public override string ToString() => $"step '{Name}' ({Source})";
}
