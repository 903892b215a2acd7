namespace GenevaDrive.Definition;

/// <summary>How a stored step name relates to this build's definition.</summary>
internal enum StepNameKind
{
    /// <summary>A live step of this build.</summary>
    Defined,

    /// <summary>A former name of a live step (declared with <see cref="WorkflowBuilder.Renamed"/>).</summary>
    Renamed,

    /// <summary>A step this build retired (declared with <see cref="WorkflowBuilder.Retired"/>); its workflows continue elsewhere.</summary>
    Retired,

    /// <summary>Neither defined nor declared: a newer build may define it (a rolling deploy), or it was removed without a declaration.</summary>
    Unknown,
}

/// <summary>
/// What a step name stored in a row means to this build: the live step it runs as (defined or renamed), or for a
/// retired step the live step its workflows continue at (<see langword="null"/> with <see cref="Finishes"/> when
/// they finish).
/// </summary>
internal readonly record struct StepResolution(StepNameKind Kind, string StoredName, StepDefinition? Step, bool Finishes = false);

/// <summary>A retired step: where its workflows continue, and where it was declared.</summary>
internal sealed record RetiredStep(string Name, string? ContinueAt, bool FinishWorkflow, SourceLocation Source);

/// <summary>
/// The declared history of a workflow's steps: former names of live steps, and retired steps with where their
/// in-flight workflows continue. Rows store step names; this is how a new build reads the names an older build wrote.
/// </summary>
internal sealed class StepEvolution
{
    public static readonly StepEvolution None = new(new Dictionary<string, string>(StringComparer.Ordinal),
        new Dictionary<string, RetiredStep>(StringComparer.Ordinal));

    public StepEvolution(IReadOnlyDictionary<string, string> renamed, IReadOnlyDictionary<string, RetiredStep> retired)
    {
        Renamed = renamed;
        Retired = retired;
    }

    /// <summary>Former name → the live step's name.</summary>
    public IReadOnlyDictionary<string, string> Renamed { get; }

    /// <summary>Retired name → where its workflows continue.</summary>
    public IReadOnlyDictionary<string, RetiredStep> Retired { get; }

    public bool IsEmpty => Renamed.Count == 0 && Retired.Count == 0;

    /// <summary>Every name this build understands: live steps, former names and retired steps.</summary>
    public bool Knows(StepCollection steps, string storedName) =>
        steps.Contains(storedName) || Renamed.ContainsKey(storedName) || Retired.ContainsKey(storedName);

    public StepResolution Resolve(StepCollection steps, string storedName)
    {
        if (steps.Find(storedName) is { } live)
        {
            return new StepResolution(StepNameKind.Defined, storedName, live);
        }

        if (Renamed.TryGetValue(storedName, out var current))
        {
            return new StepResolution(StepNameKind.Renamed, storedName, steps.Find(current));
        }

        if (Retired.TryGetValue(storedName, out var retired))
        {
            return retired.FinishWorkflow
                ? new StepResolution(StepNameKind.Retired, storedName, null, Finishes: true)
                : new StepResolution(StepNameKind.Retired, storedName, steps.Find(retired.ContinueAt!));
        }

        return new StepResolution(StepNameKind.Unknown, storedName, null);
    }

    /// <summary>A line per declaration, for the definition's shape (two runs of one type must declare the same history).</summary>
    public IEnumerable<string> ShapeLines() =>
        Renamed.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"renamed {r.Key} -> {r.Value}")
            .Concat(Retired.Values.OrderBy(r => r.Name, StringComparer.Ordinal)
                .Select(r => $"retired {r.Name} -> {(r.FinishWorkflow ? "(finish)" : r.ContinueAt)}"));
}
