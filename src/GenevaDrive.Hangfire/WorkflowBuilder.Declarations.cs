using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using GenevaDrive.Definition;

namespace GenevaDrive;

// The declarations beside plain steps: resumable steps, waits for events, and what holds for the whole workflow.
public sealed partial class WorkflowBuilder
{
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
        string? beforeStep, string? afterStep, string sourceFile, int sourceLine, bool? cancelChildrenWithParent = null)
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
            checkpointEvery ?? DefaultCheckpointEvery, cancelChildrenWithParent: cancelChildrenWithParent);
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
}
