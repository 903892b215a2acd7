namespace GenevaDrive;

/// <summary>What an exception policy does with an exception thrown by a step.</summary>
public enum ExceptionAction
{
    /// <summary>Record the error, fail the step execution and pause the workflow (the default).</summary>
    Pause,

    /// <summary>Record the error, fail the step execution and cancel the workflow.</summary>
    Cancel,

    /// <summary>Skip the step and continue with the next one.</summary>
    Skip,

    /// <summary>Run the step again after a wait, up to a limit; then apply the terminal action.</summary>
    Reattempt,

    /// <summary>Run an imperative handler that decides with a <see cref="StepResult"/>.</summary>
    Handle,
}

/// <summary>What a reattempt policy does when its limit is reached.</summary>
public enum TerminalAction
{
    /// <summary>Fail the step execution and pause the workflow (the default).</summary>
    Pause,

    /// <summary>Fail the step execution and cancel the workflow.</summary>
    Cancel,
}

/// <summary>
/// Decides what happens when a step (or one of its conditions) throws. Used per step
/// (<c>onException:</c>) or for the whole workflow (<c>WorkflowBuilder.OnException</c>).
/// </summary>
public sealed class ExceptionPolicy
{
    /// <summary>The default limit of <see cref="Reattempt(TimeSpan?, int?, TerminalAction, bool)"/>: 100 reattempts.</summary>
    public const int DefaultMaxReattempts = 100;

    private ExceptionPolicy(ExceptionAction action, TimeSpan? wait, int? maxReattempts, TerminalAction terminalAction,
        Func<Exception, CancellationToken, Task<StepResult?>>? handler, Backoff? backoff = null, bool rewind = false)
    {
        Action = action;
        Rewind = rewind;
        Backoff = backoff;
        Wait = wait;
        MaxReattempts = maxReattempts;
        TerminalAction = terminalAction;
        Handler = handler;
    }

    /// <summary>Fail the step and pause the workflow. The default when no policy matches.</summary>
    public static ExceptionPolicy Pause { get; } = new(ExceptionAction.Pause, null, null, TerminalAction.Pause, null);

    /// <summary>Fail the step and cancel the workflow.</summary>
    public static ExceptionPolicy Cancel { get; } = new(ExceptionAction.Cancel, null, null, TerminalAction.Pause, null);

    /// <summary>Skip the step and continue with the next one.</summary>
    public static ExceptionPolicy Skip { get; } = new(ExceptionAction.Skip, null, null, TerminalAction.Pause, null);

    /// <summary>The action this policy takes.</summary>
    public ExceptionAction Action { get; }

    /// <summary>For <see cref="ExceptionAction.Reattempt"/>: the wait before the next attempt (<see langword="null"/> = at once).</summary>
    public TimeSpan? Wait { get; }

    /// <summary>For <see cref="ExceptionAction.Reattempt"/> with a backoff: how the wait grows with each consecutive reattempt.</summary>
    public Backoff? Backoff { get; }

    /// <summary>
    /// For <see cref="ExceptionAction.Reattempt"/>: how many consecutive exception-caused reattempts of the
    /// step are allowed before <see cref="TerminalAction"/> applies; <see langword="null"/> means unlimited.
    /// </summary>
    public int? MaxReattempts { get; }

    /// <summary>For <see cref="ExceptionAction.Reattempt"/>: what happens when the limit is reached.</summary>
    public TerminalAction TerminalAction { get; }

    /// <summary>
    /// For <see cref="ExceptionAction.Reattempt"/> of a resumable step: the next attempt starts over instead of
    /// continuing from the cursor saved at the last checkpoint (the default continues).
    /// </summary>
    public bool Rewind { get; }

    internal Func<Exception, CancellationToken, Task<StepResult?>>? Handler { get; }

    /// <summary>
    /// Run the step again after <paramref name="wait"/>, at most <paramref name="maxReattempts"/> times in a
    /// row; then apply <paramref name="terminalAction"/>. Only exception-caused reattempts count; a step's own
    /// <see cref="StepResult.Reattempt(TimeSpan?, bool)"/> never does.
    /// </summary>
    /// <param name="wait">The wait before each new attempt; <see langword="null"/> runs it again at once. Must not be negative.</param>
    /// <param name="maxReattempts">The limit, at least 1; <see langword="null"/> means unlimited. The default is 100.</param>
    /// <param name="terminalAction">What to do when the limit is reached. The default is <see cref="GenevaDrive.TerminalAction.Pause"/>.</param>
    /// <param name="rewind">For a resumable step: start the next attempt over instead of from the saved cursor.</param>
    /// <returns>The policy. Its values are validated when it is attached to a step or workflow.</returns>
    public static ExceptionPolicy Reattempt(TimeSpan? wait = null, int? maxReattempts = DefaultMaxReattempts,
        TerminalAction terminalAction = TerminalAction.Pause, bool rewind = false) =>
        new(ExceptionAction.Reattempt, wait, maxReattempts, terminalAction, null, rewind: rewind);

    /// <summary>
    /// Run the step again after a wait that <paramref name="backoff"/> computes from the number of the
    /// reattempt (1, 2, 3, … consecutive exception-caused reattempts), at most <paramref name="maxReattempts"/>
    /// times in a row; then apply <paramref name="terminalAction"/>. The planned time is the next execution's
    /// <see cref="StepExecutionInfo.ScheduledFor"/>, and the job's result names the backoff.
    /// </summary>
    /// <param name="backoff">For example <c>Backoff.Exponential(initial: TimeSpan.FromSeconds(5), max: TimeSpan.FromHours(1))</c>.</param>
    /// <param name="maxReattempts">The limit, at least 1; <see langword="null"/> means unlimited. The default is 100.</param>
    /// <param name="terminalAction">What to do when the limit is reached. The default is <see cref="GenevaDrive.TerminalAction.Pause"/>.</param>
    /// <param name="rewind">For a resumable step: start the next attempt over instead of from the saved cursor.</param>
    /// <returns>The policy. Its values are validated when it is attached to a step or workflow.</returns>
    public static ExceptionPolicy Reattempt(Backoff backoff, int? maxReattempts = DefaultMaxReattempts,
        TerminalAction terminalAction = TerminalAction.Pause, bool rewind = false)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        return new(ExceptionAction.Reattempt, null, maxReattempts, terminalAction, null, backoff, rewind);
    }

    /// <summary>
    /// Decide imperatively. The handler runs in the workflow's context with the exception and returns the
    /// flow control to apply (<see cref="StepResult.Completed"/> swallows the exception and moves on);
    /// returning <see langword="null"/> fails the step and pauses the workflow.
    /// </summary>
    /// <param name="handler">The handler.</param>
    /// <returns>The policy.</returns>
    public static ExceptionPolicy Handle(Func<Exception, StepResult?> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return new(ExceptionAction.Handle, null, null, TerminalAction.Pause,
            (exception, _) => Task.FromResult(handler(exception)));
    }

    /// <summary>Decide imperatively and asynchronously; see <see cref="Handle(Func{Exception, StepResult?})"/>.</summary>
    /// <param name="handler">The handler; it receives the step's cancellation token.</param>
    /// <returns>The policy.</returns>
    public static ExceptionPolicy Handle(Func<Exception, CancellationToken, Task<StepResult?>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return new(ExceptionAction.Handle, null, null, TerminalAction.Pause, handler);
    }

    /// <summary>A stable description used to compare definitions and to show in diagnostics.</summary>
    /// <returns>For example <c>Reattempt(wait=00:05:00, max=10, terminal=Pause)</c>.</returns>
    public override string ToString() => Action switch
    {
        ExceptionAction.Reattempt =>
            $"Reattempt(wait={Backoff?.ToString() ?? Wait?.ToString() ?? "none"}, max={MaxReattempts?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"}, terminal={TerminalAction}{(Rewind ? ", rewind" : string.Empty)})",
        _ => Action.ToString(),
    };

    /// <summary>Lists every rule this policy breaks, as sentences completing "…".</summary>
    internal IEnumerable<string> Problems()
    {
        if (Wait is { } wait && wait < TimeSpan.Zero)
        {
            yield return $"has a reattempt wait of {wait}, which is negative; use TimeSpan.Zero or null to reattempt at once";
        }

        foreach (var problem in Backoff?.Problems() ?? [])
        {
            yield return "has a backoff that " + problem;
        }

        if (MaxReattempts is { } max && max < 1)
        {
            yield return $"has maxReattempts {max}, which is not allowed; use a positive number, or null for unlimited reattempts";
        }

        if (!Enum.IsDefined(TerminalAction))
        {
            yield return $"has terminal action {(int)TerminalAction}, which is not defined; use TerminalAction.Pause or TerminalAction.Cancel";
        }
    }
}
