namespace GenevaDrive.Definition;

/// <summary>
/// A validated workflow definition: ordered steps, class-level conditions and policies, hooks and
/// options. Built from one workflow instance, so its delegates are bound to that instance; the
/// <see cref="Shape"/> (no delegates) is what must be equal across instances of the same type.
/// </summary>
internal sealed class WorkflowDefinition
{
    public required string Name { get; init; }

    public required Type WorkflowType { get; init; }

    public required Type HeroType { get; init; }

    public required StepCollection Steps { get; init; }

    public required IReadOnlyList<CancelCondition> CancelConditions { get; init; }

    /// <summary>Class-level policies in declaration order (parent's first when <c>base.Define</c> runs first).</summary>
    public required IReadOnlyList<ClassExceptionPolicy> ExceptionPolicies { get; init; }

    public required StepHooks Hooks { get; init; }

    public required bool MayProceedWithoutHero { get; init; }

    public required string Queue { get; init; }

    /// <summary>Former names and retired steps: how this build reads step names that earlier builds stored.</summary>
    public StepEvolution Evolution { get; init; } = StepEvolution.None;

    /// <summary>What a stored step name means to this build.</summary>
    /// <summary>A start of this workflow (registered as <paramref name="name"/>) about the hero <paramref name="heroId"/>: its first step, scheduled as declared.</summary>
    public Store.NewWorkflow StartOf(string name, string heroId, bool allowMultiple, string? traceParent)
    {
        var first = Steps.First;
        var schedule = first?.Schedule();
        return new Store.NewWorkflow(name, Heroes.HeroTypes.NameOf(HeroType), heroId, allowMultiple, first?.Name, schedule?.Wait, schedule?.Gate, traceParent);
    }

    public StepResolution Resolve(string storedName) => Evolution.Resolve(Steps, storedName);

    /// <summary>
    /// The step a workflow goes to when the step stored as <paramref name="storedName"/> is skipped or ends: the live
    /// step after it (after the step it was renamed to), or where a retired step's workflows continue. Null when the
    /// workflow rightly finishes (after the last step, or a retired step declared to finish).
    /// </summary>
    /// <exception cref="StepNotDefinedException">This build neither defines nor declares the name, so what follows it is unknown.</exception>
    public StepDefinition? NextAfterStored(string storedName, long workflowId, string action)
    {
        var resolved = Resolve(storedName);
        return resolved.Kind switch
        {
            StepNameKind.Defined or StepNameKind.Renamed => Steps.NextAfter(resolved.Step!.Name),
            StepNameKind.Retired => resolved.Step,
            _ => throw StepNotDefinedException.CannotContinue(Name, storedName, Steps.Names, workflowId, action),
        };
    }

    private string? _shape;

    /// <summary>Everything that must be identical between two instances of the same type, as text (for messages and start-up).</summary>
    public string Shape => _shape ??= string.Join(Environment.NewLine, new[]
        {
            $"workflow={Name}", $"queue={Queue}", $"mayProceedWithoutHero={MayProceedWithoutHero}",
            $"cancelIf={CancelConditions.Count}", Hooks.Shape,
        }
        .Concat(ExceptionPolicies.Select(p => "policy " + p.Shape))
        .Concat(Steps.Select(s => "step " + s.Shape))
        .Concat(Evolution.ShapeLines()));

    /// <summary>
    /// Whether this definition has the same <see cref="Shape"/> as <paramref name="other"/>, compared field by field
    /// (every step run checks its instance's definition against the validated one; no text is built for that).
    /// </summary>
    public bool HasSameShapeAs(WorkflowDefinition other)
    {
        if (Name != other.Name || Queue != other.Queue || MayProceedWithoutHero != other.MayProceedWithoutHero ||
            CancelConditions.Count != other.CancelConditions.Count || Hooks.Before.Count != other.Hooks.Before.Count ||
            Hooks.Around.Count != other.Hooks.Around.Count || Hooks.After.Count != other.Hooks.After.Count ||
            ExceptionPolicies.Count != other.ExceptionPolicies.Count || Steps.Count != other.Steps.Count ||
            (!(Evolution.IsEmpty && other.Evolution.IsEmpty) && !Evolution.ShapeLines().SequenceEqual(other.Evolution.ShapeLines())))
        {
            return false;
        }

        for (var i = 0; i < ExceptionPolicies.Count; i++)
        {
            if (ExceptionPolicies[i].Shape != other.ExceptionPolicies[i].Shape)
            {
                return false;
            }
        }

        for (var i = 0; i < Steps.Count; i++)
        {
            if (!Steps[i].HasSameShapeAs(other.Steps[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The policy for an exception thrown by <paramref name="step"/> (or its conditions):
    /// the step's explicit policy; else the most recently declared matching specific class-level policy;
    /// else the most recently declared blanket class-level policy; else <see cref="ExceptionPolicy.Pause"/>.
    /// </summary>
    public ExceptionPolicy ResolveExceptionPolicy(StepDefinition? step, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (step?.ExceptionPolicy is { } explicitPolicy)
        {
            return explicitPolicy;
        }

        for (var i = ExceptionPolicies.Count - 1; i >= 0; i--)
        {
            var candidate = ExceptionPolicies[i];
            if (!candidate.IsBlanket && candidate.Matches(exception))
            {
                return candidate.Policy;
            }
        }

        for (var i = ExceptionPolicies.Count - 1; i >= 0; i--)
        {
            if (ExceptionPolicies[i].IsBlanket)
            {
                return ExceptionPolicies[i].Policy;
            }
        }

        return ExceptionPolicy.Pause;
    }

    /// <summary>The step with <paramref name="name"/>, or <see cref="StepNotDefinedException"/>.</summary>
    public StepDefinition GetStep(string name) =>
        Steps.Find(name) ?? throw new StepNotDefinedException(Name, name, Steps.Names);

    /// <summary>True when any cancel condition holds (checked in declaration order, stopping at the first).</summary>
    public bool ShouldCancel() => CancelConditions.Any(c => StepDefinition.Holds(c.Condition));
}
