using System.Runtime.CompilerServices;
using GenevaDrive.Definition;

namespace GenevaDrive;

// Declared evolution: how this build reads step names that an earlier build wrote into rows still in flight.
public sealed partial class WorkflowBuilder
{
    private readonly List<(string From, string To, SourceLocation Source)> _renamed = [];
    private readonly List<(RetiredStep Step, int DeclaredBefore)> _retired = [];

    /// <summary>
    /// Declares that the live step <paramref name="to"/> was called <paramref name="from"/> in an earlier build. Rows
    /// in flight that name <paramref name="from"/> run <paramref name="to"/>, and skip, resume and jump treat them as
    /// that step. Keep the declaration until no workflow that started before the rename is still running (the drift
    /// report and the dashboard tell). A step renamed twice declares both former names.
    /// </summary>
    /// <param name="from">The former name, as stored in the database.</param>
    /// <param name="to">The live step's name (declared anywhere in this definition).</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder Renamed(string from, string to,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (StepNameProblem(from) is { } problem)
        {
            return Fail(from, source, $"Renamed: the former name {problem}");
        }

        if (StepNameProblem(to) is { } targetProblem)
        {
            return Fail(from, source, $"Renamed: the new name {targetProblem}");
        }

        _renamed.Add((from, to, source));
        return this;
    }

    /// <summary>
    /// Declares that the step <paramref name="name"/> was removed. Workflows in flight at it do not run it: its
    /// execution is recorded as skipped ("retired") and the workflow continues at <paramref name="continueAt"/> — by
    /// default the step declared right after this line — with that step's own wait. Skip and jump from it do the
    /// same. Keep the declaration until no workflow is at the retired step.
    /// </summary>
    /// <param name="name">The removed step's name, as stored in the database.</param>
    /// <param name="continueAt">The live step its workflows continue at; null for the step declared next after this line.</param>
    /// <param name="finishWorkflow">True when its workflows finish instead (a retired last step); excludes <paramref name="continueAt"/>.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder Retired(string name, string? continueAt = null, bool finishWorkflow = false,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (StepNameProblem(name) is { } problem)
        {
            return Fail(name, source, $"Retired: the step name {problem}");
        }

        if (finishWorkflow && continueAt is not null)
        {
            return Fail(name, source,
                $"Retired: continueAt ('{continueAt}') and finishWorkflow cannot both be given; choose where its workflows go");
        }

        _retired.Add((new RetiredStep(name, continueAt, finishWorkflow, source), _declared.Count));
        return this;
    }

    private static string? StepNameProblem(string? name) =>
        string.IsNullOrWhiteSpace(name) || name.Trim() != name ? $"'{name}' must be non-empty without surrounding white space"
        : name.Length > MaxStepNameLength ? $"is {name.Length} characters long; the limit is {MaxStepNameLength}"
        : null;

    /// <summary>Checks the declarations against the live steps (all problems together) and builds the evolution.</summary>
    private StepEvolution BuildEvolution()
    {
        if (_renamed.Count == 0 && _retired.Count == 0)
        {
            return StepEvolution.None;
        }

        var live = string.Join(", ", _declared.Select(s => $"'{s.Name}'"));
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        var retired = new Dictionary<string, RetiredStep>(StringComparer.Ordinal);
        foreach (var (from, to, source) in _renamed)
        {
            if (_byName.ContainsKey(from))
            {
                Fail(from, source, $"Renamed: '{from}' is declared a former name of '{to}' but is also a live step; a step name is never reused, so give the new step another name");
            }
            else if (!_byName.ContainsKey(to))
            {
                Fail(from, source, $"Renamed: the new name '{to}' is not a step of this workflow (steps: {live}); rename to a live step");
            }
            else if (_byName[to].CancelChildrenWithParent is not null)
            {
                Fail(from, source, $"Renamed: '{to}' is a StartChildren step, whose name groups the children it started (their parent step is stored as '{from}'); " +
                    $"a renamed step would wait for and read none of them, so keep the name '{from}' for that step");
            }
            else if (renamed.TryGetValue(from, out var earlier))
            {
                Fail(from, source, $"Renamed: '{from}' is already declared a former name of '{earlier}'; a former name maps to one step");
            }
            else
            {
                renamed.Add(from, to);
            }
        }

        foreach (var (step, declaredBefore) in _retired)
        {
            var continueAt = step.ContinueAt ?? (step.FinishWorkflow || declaredBefore >= _declared.Count ? null : _declared[declaredBefore].Name);
            if (_byName.ContainsKey(step.Name))
            {
                Fail(step.Name, step.Source, "Retired: the step is still defined; remove its Step declaration, or remove the Retired line");
            }
            else if (renamed.TryGetValue(step.Name, out var to))
            {
                Fail(step.Name, step.Source, $"Retired: the step is also declared renamed to '{to}'; it is either renamed or retired");
            }
            else if (retired.ContainsKey(step.Name))
            {
                Fail(step.Name, step.Source, "Retired: the step is declared retired twice");
            }
            else if (!step.FinishWorkflow && continueAt is null)
            {
                Fail(step.Name, step.Source,
                    "Retired: no step is declared after it, so where its workflows continue is unknown; pass continueAt: a live step, or finishWorkflow: true");
            }
            else if (continueAt is not null && !_byName.ContainsKey(continueAt))
            {
                Fail(step.Name, step.Source, $"Retired: continueAt '{continueAt}' is not a step of this workflow (steps: {live}); continue at a live step");
            }
            else
            {
                retired.Add(step.Name, step with { ContinueAt = continueAt });
            }
        }

        return new StepEvolution(renamed, retired);
    }
}
