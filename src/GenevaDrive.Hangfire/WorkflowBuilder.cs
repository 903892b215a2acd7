using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using GenevaDrive.Definition;

namespace GenevaDrive;

/// <summary>
/// Declares the steps, conditions, exception policies, hooks and options of a workflow inside
/// <see cref="Workflow{THero}.Define"/>. Every rule is checked as it is declared: a broken rule throws a
/// <see cref="StepConfigurationException"/> naming the workflow, the step, its source line and the fix.
/// </summary>
/// <remarks>
/// Step options: <c>wait</c> delays the step after the previous one (zero or positive); <c>skipIf</c>
/// skips it when true and <c>onlyIf</c> runs it only when true (evaluated when the step is about to run;
/// not both); <c>onException</c> is the step's own exception policy; <c>beforeStep</c> / <c>afterStep</c>
/// place it relative to a step declared earlier (not both). A step without a name takes the name of the
/// method it was given as, or <c>step_N</c> where N is its position in declaration order.
/// </remarks>
public sealed partial class WorkflowBuilder
{
    /// <summary>The longest step name the database columns hold.</summary>
    internal const int MaxStepNameLength = 200;

    private readonly List<StepDefinition> _declared = [];
    private readonly Dictionary<string, StepDefinition> _byName = new(StringComparer.Ordinal);
    private readonly List<CancelCondition> _cancelConditions = [];
    private readonly List<ClassExceptionPolicy> _policies = [];
    private readonly StepHooks _hooks = new();
    private readonly List<string> _errors = [];
    private bool _mayProceedWithoutHero;
    private string _queue = "default";

    internal WorkflowBuilder(string workflowName)
    {
        WorkflowName = workflowName;
    }

    internal string WorkflowName { get; }

    // ---- Steps -------------------------------------------------------------------------------------

    /// <summary>Declares a step named <paramref name="name"/> whose body completes the step when it returns.</summary>
    /// <param name="name">The step name, unique within the workflow and stable across deployments.</param>
    /// <param name="body">The step body; it receives a token that fires when the job is canceled.</param>
    /// <param name="wait">How long to wait after the previous step before this one runs.</param>
    /// <param name="skipIf">Skip the step when this returns true.</param>
    /// <param name="onlyIf">Run the step only when this returns true.</param>
    /// <param name="onException">The step's exception policy; by default the workflow-level policies decide, then Pause.</param>
    /// <param name="beforeStep">Place this step just before an already declared step.</param>
    /// <param name="afterStep">Place this step just after an already declared step (after the steps already placed there).</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder Step(string name, Func<CancellationToken, Task> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(name, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>Declares a step named <paramref name="name"/> whose body returns flow control.</summary>
    /// <inheritdoc cref="Step(string, Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    // A lambda that only throws fits every body shape; it binds here rather than being ambiguous (C# 13 and later).
    [OverloadResolutionPriority(1)]
    public WorkflowBuilder Step(string name, Func<CancellationToken, Task<StepResult>> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(name, body, body, wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>Declares a step named <paramref name="name"/> whose body takes no token.</summary>
    /// <inheritdoc cref="Step(string, Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder Step(string name, Func<Task> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(name, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>Declares a step named <paramref name="name"/> whose body takes no token and returns flow control.</summary>
    /// <inheritdoc cref="Step(string, Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    // A lambda that only throws fits every body shape; it binds here rather than being ambiguous (C# 13 and later).
    [OverloadResolutionPriority(1)]
    public WorkflowBuilder Step(string name, Func<Task<StepResult>> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(name, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>Declares a step named <paramref name="name"/> with a synchronous body that returns flow control.</summary>
    /// <inheritdoc cref="Step(string, Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder Step(string name, Func<StepResult> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(name, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>
    /// Declares a step named after <paramref name="body"/>'s method (for a method group such as
    /// <c>SendReminderAsync</c>), or <c>step_N</c> by position for a lambda.
    /// </summary>
    /// <inheritdoc cref="Step(string, Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder Step(Func<CancellationToken, Task> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(null, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <inheritdoc cref="Step(Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    // A lambda that only throws fits every body shape; it binds here rather than being ambiguous (C# 13 and later).
    [OverloadResolutionPriority(1)]
    public WorkflowBuilder Step(Func<CancellationToken, Task<StepResult>> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(null, body, body, wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <inheritdoc cref="Step(Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder Step(Func<Task> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(null, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <inheritdoc cref="Step(Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    // A lambda that only throws fits every body shape; it binds here rather than being ambiguous (C# 13 and later).
    [OverloadResolutionPriority(1)]
    public WorkflowBuilder Step(Func<Task<StepResult>> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(null, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <inheritdoc cref="Step(Func{CancellationToken, Task}, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder Step(Func<StepResult> body, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        Add(null, body, Adapt(body), wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    // ---- Building ----------------------------------------------------------------------------------

    internal WorkflowDefinition Build(Type workflowType, Type heroType)
    {
        var evolution = BuildEvolution();
        if (_errors.Count > 0)
        {
            // Every broken rule of the workflow, reported together.
            throw new StepConfigurationException(_errors.ToArray());
        }

        var ordered = Order();
        return new WorkflowDefinition
        {
            Name = WorkflowName,
            WorkflowType = workflowType,
            HeroType = heroType,
            Steps = new StepCollection(ordered),
            CancelConditions = _cancelConditions.ToArray(),
            ExceptionPolicies = _policies.ToArray(),
            Hooks = _hooks,
            MayProceedWithoutHero = _mayProceedWithoutHero,
            Queue = _queue,
            Evolution = evolution,
        };
    }

    /// <summary>
    /// Run order: steps without a position keep declaration order; then each positioned step, in
    /// declaration order, goes just before its target, or just after its target and the steps already
    /// placed after it (so several steps placed after one target keep their declaration order).
    /// </summary>
    private List<StepDefinition> Order()
    {
        var result = _declared.Where(s => s.BeforeStep is null && s.AfterStep is null).ToList();
        foreach (var step in _declared.Where(s => s.BeforeStep is not null || s.AfterStep is not null))
        {
            if (step.BeforeStep is { } before)
            {
                result.Insert(result.FindIndex(s => s.Name == before), step);
                continue;
            }

            var target = step.AfterStep!;
            var index = result.FindIndex(s => s.Name == target) + 1;
            while (index < result.Count && IsAnchoredTo(result[index], target))
            {
                index++;
            }

            result.Insert(index, step);
        }

        return result;
    }

    private bool IsAnchoredTo(StepDefinition step, string target)
    {
        for (var current = step; ;)
        {
            var anchor = current.AfterStep ?? current.BeforeStep;
            if (anchor is null)
            {
                return false;
            }

            if (anchor == target)
            {
                return true;
            }

            current = _byName[anchor];
        }
    }

    // ---- Internals ---------------------------------------------------------------------------------

    private WorkflowBuilder Add(string? name, Delegate original, Func<CancellationToken, Task<StepResult>> body,
        TimeSpan? wait, Func<bool>? skipIf, Func<bool>? onlyIf, ExceptionPolicy? onException,
        string? beforeStep, string? afterStep, string sourceFile, int sourceLine,
        Func<ResumableRun, CancellationToken, Task<StepResult>>? resumable = null, Type? cursorType = null, TimeSpan? maxRunTime = null,
        TimeSpan checkpointEvery = default, string? waitEvent = null, TimeSpan waitTimeout = default, WaitTimeout onTimeout = WaitTimeout.Pause,
        Store.ChildrenGate? children = null, bool? cancelChildrenWithParent = null)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        var methodName = original is null ? null : MethodStepName(original);
        var stepName = name ?? methodName ?? $"step_{_declared.Count + 1}";

        if (original is null)
        {
            return Fail(stepName, source, "a step needs a body; pass a lambda or a method");
        }

        if (string.IsNullOrWhiteSpace(stepName) || stepName.Trim() != stepName)
        {
            return Fail(stepName, source, "step names must be non-empty and must not start or end with white space");
        }

        if (stepName.Length > MaxStepNameLength)
        {
            return Fail(stepName, source, $"the step name is {stepName.Length} characters long; the limit is {MaxStepNameLength}");
        }

        if (_byName.TryGetValue(stepName, out var existing))
        {
            return Fail(stepName, source,
                $"a step with this name is already defined at {existing.Source}; step names must be unique within a workflow (including inherited steps), so rename one of them");
        }

        foreach (var (option, target) in new[] { ("beforeStep", beforeStep), ("afterStep", afterStep) })
        {
            if (target is not null && !_byName.ContainsKey(target))
            {
                return Fail(stepName, source,
                    $"{option} refers to '{target}', which is not defined yet; a step can only be placed relative to a step declared before it (declared so far: {DeclaredNames()})");
            }
        }

        if (wait is { } w && w < TimeSpan.Zero)
        {
            return Fail(stepName, source, $"wait is {w}, which is negative; use TimeSpan.Zero or leave it out to run the step right after the previous one");
        }

        if (onException is not null && onException.Problems().FirstOrDefault() is { } policyProblem)
        {
            return Fail(stepName, source, "onException " + policyProblem);
        }

        if (beforeStep is not null && afterStep is not null)
        {
            return Fail(stepName, source, "beforeStep and afterStep cannot both be given; choose one position");
        }

        if (skipIf is not null && onlyIf is not null)
        {
            return Fail(stepName, source, "skipIf and onlyIf cannot both be given; express the condition in one of them");
        }

        var step = new StepDefinition
        {
            Name = stepName,
            Body = body,
            Wait = wait,
            ConditionKind = skipIf is not null ? StepConditionKind.SkipIf
                : onlyIf is not null ? StepConditionKind.OnlyIf : StepConditionKind.None,
            Condition = skipIf ?? onlyIf,
            ExceptionPolicy = onException,
            BeforeStep = beforeStep,
            AfterStep = afterStep,
            Source = source,
            Resumable = resumable,
            CursorType = cursorType,
            MaxRunTime = maxRunTime,
            CheckpointEvery = checkpointEvery,
            WaitEvent = waitEvent,
            WaitTimeout = waitTimeout,
            OnTimeout = onTimeout,
            Children = children,
            CancelChildrenWithParent = cancelChildrenWithParent,
        };
        _declared.Add(step);
        _byName.Add(stepName, step);
        return this;
    }

    private WorkflowBuilder AddPolicy(IReadOnlyList<ExceptionMatcher> matchers, ExceptionPolicy policy, SourceLocation source)
    {
        if (policy is null)
        {
            return Fail(null, source, "OnException needs a policy such as ExceptionPolicy.Reattempt()");
        }

        if (policy.Problems().FirstOrDefault() is { } problem)
        {
            return Fail(null, source, "the workflow-level exception policy " + problem);
        }

        _policies.Add(new ClassExceptionPolicy { Matchers = matchers, Policy = policy, Source = source });
        return this;
    }

    private string DeclaredNames() =>
        _declared.Count == 0 ? "none" : string.Join(", ", _declared.Select(s => $"'{s.Name}'"));

    /// <summary>Records a broken rule (reported with every other one when the workflow is built) and goes on.</summary>
    private WorkflowBuilder Fail(string? stepName, SourceLocation source, string rule)
    {
        _errors.Add(Error(stepName, source, rule).Message);
        return this;
    }

    private StepConfigurationException Error(string? stepName, SourceLocation source, string rule)
    {
        var where = source.Line > 0 ? $" ({source})" : string.Empty;
        return new StepConfigurationException(stepName is null
            ? $"Workflow '{WorkflowName}'{where}: {rule}."
            : $"Workflow '{WorkflowName}', step '{stepName}'{where}: {rule}.");
    }

    /// <summary>
    /// The name of the method a step was given as: a method group's name, or a local function's name.
    /// Lambdas compile to generated methods and have no usable name, so they return null.
    /// </summary>
    internal static string? MethodStepName(Delegate body)
    {
        var name = body.Method.Name;
        if (!name.Contains('<', StringComparison.Ordinal))
        {
            return name;
        }

        var local = LocalFunctionName().Match(name);
        return local.Success ? local.Groups[1].Value : null;
    }

    private static Func<CancellationToken, Task<StepResult>> Adapt(Func<CancellationToken, Task> body) =>
        async ct =>
        {
            await body(ct).ConfigureAwait(false);
            return StepResult.Completed();
        };

    private static Func<CancellationToken, Task<StepResult>> Adapt(Func<Task> body) =>
        async _ =>
        {
            await body().ConfigureAwait(false);
            return StepResult.Completed();
        };

    private static Func<CancellationToken, Task<StepResult>> Adapt(Func<Task<StepResult>> body) => _ => body();

    private static Func<CancellationToken, Task<StepResult>> Adapt(Func<StepResult> body) =>
        _ => Task.FromResult(body());

    [GeneratedRegex("^[a-z0-9_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex QueueNamePattern();

    [GeneratedRegex(@"g__([^|]+)\|", RegexOptions.CultureInvariant)]
    private static partial Regex LocalFunctionName();
}
