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

    // ---- Resumable steps ---------------------------------------------------------------------------

    /// <summary>The default least time between two checkpoints that the iteration helpers save.</summary>
    public static readonly TimeSpan DefaultCheckpointEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Declares a resumable step: a body that works through a large set (send 200,000 notifications, import a
    /// file) and saves where it stands in checkpoints, so that a crash, a deploy, a pause or a lease takeover
    /// does not start it over, and so that it need not hold a Hangfire worker for hours. Each new attempt of
    /// the step (a new step execution) starts from the cursor saved by the last checkpoint; a reattempt
    /// continues from it too, unless it asks to rewind. See <see cref="StepIteration{TCursor}"/>.
    /// </summary>
    /// <typeparam name="TCursor">Where the work stands; anything System.Text.Json serializes and reads back (see <see cref="StepIteration{TCursor}"/>).</typeparam>
    /// <param name="name">The step name, unique within the workflow and stable across deployments.</param>
    /// <param name="body">The body; it receives the iteration (cursor, checkpoints, helpers) and the step's token.</param>
    /// <param name="maxRunTime">
    /// The time slice: after this long, the attempt ends at its next checkpoint and the step continues at once in
    /// a new Hangfire job, so other jobs get the worker in between. Null (the default) means no limit.
    /// </param>
    /// <param name="checkpointEvery">
    /// The least time between two checkpoints saved by <see cref="StepIteration{TCursor}.ForEachAsync{TItem}"/> and
    /// <see cref="StepIteration{TCursor}.ForEachPageAsync{TItem}"/> (a checkpoint is always saved before the attempt
    /// stops); <see cref="TimeSpan.Zero"/> saves after every item. The default is <see cref="DefaultCheckpointEvery"/>.
    /// </param>
    /// <param name="wait">How long to wait after the previous step before this one runs.</param>
    /// <param name="skipIf">Skip the step when this returns true.</param>
    /// <param name="onlyIf">Run the step only when this returns true.</param>
    /// <param name="onException">The step's exception policy; a reattempt continues from the cursor unless the policy rewinds.</param>
    /// <param name="beforeStep">Place this step just before an already declared step.</param>
    /// <param name="afterStep">Place this step just after an already declared step.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder ResumableStep<TCursor>(string name, Func<StepIteration<TCursor>, CancellationToken, Task> body,
        TimeSpan? maxRunTime = null, TimeSpan? checkpointEvery = null, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        AddResumable<TCursor>(name, body, body is null ? null : async (iteration, ct) =>
        {
            await body(iteration, ct).ConfigureAwait(false);
            return StepResult.Completed();
        }, maxRunTime, checkpointEvery, wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    /// <summary>Declares a resumable step whose body returns flow control.</summary>
    /// <inheritdoc cref="ResumableStep{TCursor}(string, Func{StepIteration{TCursor}, CancellationToken, Task}, TimeSpan?, TimeSpan?, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder ResumableStep<TCursor>(string name, Func<StepIteration<TCursor>, CancellationToken, Task<StepResult>> body,
        TimeSpan? maxRunTime = null, TimeSpan? checkpointEvery = null, TimeSpan? wait = null,
        Func<bool>? skipIf = null, Func<bool>? onlyIf = null, ExceptionPolicy? onException = null,
        string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        AddResumable(name, body, body, maxRunTime, checkpointEvery, wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    private WorkflowBuilder AddResumable<TCursor>(string name, Delegate? original, Func<StepIteration<TCursor>, CancellationToken, Task<StepResult>>? body,
        TimeSpan? maxRunTime, TimeSpan? checkpointEvery, TimeSpan? wait, Func<bool>? skipIf, Func<bool>? onlyIf, ExceptionPolicy? onException,
        string? beforeStep, string? afterStep, string sourceFile, int sourceLine)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (name is null)
        {
            return Fail(null, source, "a resumable step needs a name; its saved cursor belongs to that name, so it must be stable across deployments");
        }

        if (maxRunTime is { } slice && slice <= TimeSpan.Zero)
        {
            return Fail(name, source, $"maxRunTime is {slice}, which is not positive; give the time one attempt may run (e.g. TimeSpan.FromMinutes(5)), or leave it out for no limit");
        }

        if (checkpointEvery is { } every && every < TimeSpan.Zero)
        {
            return Fail(name, source, $"checkpointEvery is {every}, which is negative; use TimeSpan.Zero to save after every item, or leave it out for the default of {DefaultCheckpointEvery}");
        }

        return Add(name, original!, _ => throw new InvalidOperationException($"Resumable step '{name}' runs through its iteration."),
            wait, skipIf, onlyIf, onException, beforeStep, afterStep, sourceFile, sourceLine,
            body is null ? null : (run, ct) => body(new StepIteration<TCursor>(run), ct), typeof(TCursor), maxRunTime,
            checkpointEvery ?? DefaultCheckpointEvery);
    }

    // ---- Waiting for events ------------------------------------------------------------------------

    /// <summary>The longest event name the database columns hold.</summary>
    internal const int MaxEventNameLength = 200;

    /// <summary>
    /// Declares a step that waits for the event <paramref name="eventName"/>, sent with
    /// <see cref="IWorkflowClient.SendEventAsync(long, string, object?, string?, CancellationToken)"/>. While it waits no
    /// Hangfire job polls: one job is scheduled for the timeout, and the event moves it to now. An event that
    /// arrived before the workflow got here is taken at once. Later steps read its payload with
    /// <see cref="Workflow.ReceivedEventAsync{TPayload}(string, CancellationToken)"/>.
    /// </summary>
    /// <param name="eventName">The event's name, e.g. <c>"email_confirmed"</c>.</param>
    /// <param name="timeout">How long to wait (positive).</param>
    /// <param name="onTimeout">What happens when the event does not come in time. The default is <see cref="WaitTimeout.Pause"/>.</param>
    /// <param name="name">The step's name; the default is <c>wait_for_{eventName}</c>.</param>
    /// <param name="skipIf">Skip the wait when this returns true.</param>
    /// <param name="beforeStep">Place this step just before an already declared step.</param>
    /// <param name="afterStep">Place this step just after an already declared step.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder WaitFor(string eventName, TimeSpan timeout, WaitTimeout onTimeout = WaitTimeout.Pause, string? name = null,
        Func<bool>? skipIf = null, string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        var stepName = name ?? (eventName is null ? null : $"wait_for_{eventName}");
        if (EventNameProblem(eventName) is { } problem)
        {
            return Fail(stepName, source, problem);
        }

        if (timeout <= TimeSpan.Zero)
        {
            return Fail(stepName, source, $"WaitFor's timeout is {timeout}, which is not positive; give how long to wait, e.g. TimeSpan.FromDays(3)");
        }

        if (!Enum.IsDefined(onTimeout))
        {
            return Fail(stepName, source, $"onTimeout {(int)onTimeout} is not defined; use WaitTimeout.Pause, Cancel, Continue or Skip");
        }

        return Add(stepName, (Func<Task<StepResult>>)NoBody, _ => Task.FromResult(StepResult.Completed()), null, skipIf, null, null,
            beforeStep, afterStep, sourceFile, sourceLine, waitEvent: eventName, waitTimeout: timeout, onTimeout: onTimeout);
    }

    private static Task<StepResult> NoBody() => Task.FromResult(StepResult.Completed());

    /// <summary>Why <paramref name="eventName"/> cannot name an event, or null when it can.</summary>
    internal static string? EventNameProblem(string? eventName) =>
        string.IsNullOrWhiteSpace(eventName) || eventName.Trim() != eventName
            ? $"the event name '{eventName}' is empty or starts or ends with white space; use a name such as \"email_confirmed\""
            : eventName.Length > MaxEventNameLength
            ? $"the event name is {eventName.Length} characters long; the limit is {MaxEventNameLength}"
            : eventName.Any(char.IsControl)
            ? "the event name contains control characters; use letters, digits and punctuation"
            : null;

    // ---- Workflow-level declarations ---------------------------------------------------------------

    /// <summary>
    /// Cancels the workflow before any step runs when <paramref name="condition"/> returns true. Conditions
    /// are checked in declaration order (a parent's first) before the step's own skip condition.
    /// </summary>
    /// <param name="condition">The condition, evaluated in the workflow's context before each step.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder CancelIf(Func<bool> condition,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (condition is null)
        {
            return Fail(null, source, "CancelIf needs a condition; pass a function returning true when the workflow should be canceled");
        }

        _cancelConditions.Add(new CancelCondition(condition, source));
        return this;
    }

    /// <summary>A blanket workflow-level policy for every exception no step-level or specific policy handles.</summary>
    /// <param name="policy">The policy.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder OnException(ExceptionPolicy policy,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0) =>
        AddPolicy([], policy, new SourceLocation(sourceFile, sourceLine));

    /// <summary>A workflow-level policy for <typeparamref name="TException"/> and every exception derived from it.</summary>
    /// <typeparam name="TException">The exception type to match.</typeparam>
    /// <param name="policy">The policy.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder OnException<TException>(ExceptionPolicy policy,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
        where TException : Exception =>
        AddPolicy([new ExceptionMatcher.OfType(typeof(TException))], policy, new SourceLocation(sourceFile, sourceLine));

    /// <summary>A workflow-level policy for exceptions of any of <paramref name="exceptionTypes"/> (and derived types).</summary>
    /// <param name="exceptionTypes">Exception types; each must derive from <see cref="Exception"/>.</param>
    /// <param name="policy">The policy.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder OnException(IEnumerable<Type> exceptionTypes, ExceptionPolicy policy,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        var matchers = new List<ExceptionMatcher>();
        foreach (var type in exceptionTypes ?? throw Error(null, source, "OnException needs exception types; pass at least one"))
        {
            if (type is null || !typeof(Exception).IsAssignableFrom(type))
            {
                return Fail(null, source,
                    $"OnException expected an Exception subclass, got {type?.FullName ?? "null"}; pass typeof(SomeException)");
            }

            matchers.Add(new ExceptionMatcher.OfType(type));
        }

        if (matchers.Count == 0)
        {
            return Fail(null, source, "OnException was given no exception types; pass at least one, or use OnException(policy) for a blanket policy");
        }

        return AddPolicy(matchers, policy, source);
    }

    /// <summary>
    /// A workflow-level policy for exceptions whose type (or a base type) has the full name
    /// <paramref name="exceptionTypeName"/>. The name is resolved when an exception is matched, so the
    /// type need not be referenced here; an unknown name never matches.
    /// </summary>
    /// <param name="exceptionTypeName">A full type name, e.g. <c>"Npgsql.PostgresException"</c>.</param>
    /// <param name="policy">The policy.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder OnException(string exceptionTypeName, ExceptionPolicy policy,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (string.IsNullOrWhiteSpace(exceptionTypeName))
        {
            return Fail(null, source, "OnException needs a non-empty exception type name such as \"System.TimeoutException\"");
        }

        return AddPolicy([new ExceptionMatcher.Named(exceptionTypeName.Trim())], policy, source);
    }

    /// <summary>A workflow-level policy for exceptions for which <paramref name="predicate"/> returns true.</summary>
    /// <param name="predicate">The matcher.</param>
    /// <param name="policy">The policy.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder OnException(Func<Exception, bool> predicate, ExceptionPolicy policy,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (predicate is null)
        {
            return Fail(null, source, "OnException needs a predicate; pass a function that returns true for the exceptions to handle");
        }

        return AddPolicy([new ExceptionMatcher.Predicate(predicate)], policy, source);
    }

    /// <summary>
    /// Lets the workflow run its steps when its hero no longer exists (by default such a workflow is
    /// canceled). Step bodies then read <c>HeroOrDefault</c>.
    /// </summary>
    /// <returns>This builder.</returns>
    public WorkflowBuilder MayProceedWithoutHero()
    {
        _mayProceedWithoutHero = true;
        return this;
    }

    /// <summary>
    /// Runs this workflow's step jobs on the Hangfire queue <paramref name="queue"/> (priority is chosen by
    /// queue order on the server). The default is <c>default</c>; a later call overrides an earlier one.
    /// </summary>
    /// <param name="queue">A Hangfire queue name: lower-case letters, digits, underscores and dashes.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder UseQueue(string queue,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        if (queue is null || !QueueNamePattern().IsMatch(queue))
        {
            return Fail(null, new SourceLocation(sourceFile, sourceLine),
                $"queue name '{queue}' is invalid; Hangfire queue names use only lower-case letters, digits, '_' and '-', e.g. \"critical\"");
        }

        _queue = queue;
        return this;
    }

    /// <summary>Runs <paramref name="hook"/> before every step body (after the step's conditions passed).</summary>
    /// <param name="hook">The hook; an exception from it is handled like one from the step body.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder BeforeEachStep(Func<StepContext, CancellationToken, Task> hook)
    {
        _hooks.Before.Add(hook ?? throw Error(null, default, "BeforeEachStep needs a hook"));
        return this;
    }

    /// <summary>
    /// Wraps every step body: the hook receives a function that runs the body (and inner around hooks) and
    /// must call it once. The first declared around hook is the outermost.
    /// </summary>
    /// <param name="hook">The hook.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder AroundEachStep(Func<StepContext, Func<Task>, Task> hook)
    {
        _hooks.Around.Add(hook ?? throw Error(null, default, "AroundEachStep needs a hook"));
        return this;
    }

    /// <summary>Runs <paramref name="hook"/> after every step body that returned (not after one that threw).</summary>
    /// <param name="hook">The hook; an exception from it is handled like one from the step body.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder AfterEachStep(Func<StepContext, CancellationToken, Task> hook)
    {
        _hooks.After.Add(hook ?? throw Error(null, default, "AfterEachStep needs a hook"));
        return this;
    }

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
        TimeSpan checkpointEvery = default, string? waitEvent = null, TimeSpan waitTimeout = default, WaitTimeout onTimeout = WaitTimeout.Pause)
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
