namespace GenevaDrive;

/// <summary>What a step asks the workflow to do next. Returned by step bodies and exception handlers.</summary>
public enum StepResultKind
{
    /// <summary>The step is done; the next step is scheduled, or the workflow finishes after the last step.</summary>
    Completed,

    /// <summary>Cancel the workflow; no further steps run.</summary>
    Cancel,

    /// <summary>Pause the workflow; resuming it runs this step again.</summary>
    Pause,

    /// <summary>Run this step again, optionally after a wait. Never counts toward an exception policy's limit.</summary>
    Reattempt,

    /// <summary>Skip this step and schedule the next one.</summary>
    Skip,

    /// <summary>Finish the workflow now, without running the remaining steps.</summary>
    Finished,

    /// <summary>The step is done; the next step runs when an event comes (or on timeout).</summary>
    WaitFor,
}

/// <summary>
/// Flow control as a returned value. A step body returns one of these (or a plain <see cref="Task"/>,
/// which means <see cref="Completed"/>). Flow control is deliberately not an exception: a
/// <c>catch (Exception)</c> in user code would swallow it.
/// </summary>
public sealed class StepResult
{
    private static readonly StepResult CompletedResult = new(StepResultKind.Completed, null);
    private static readonly StepResult CancelResult = new(StepResultKind.Cancel, null);
    private static readonly StepResult PauseResult = new(StepResultKind.Pause, null);
    private static readonly StepResult SkipResult = new(StepResultKind.Skip, null);
    private static readonly StepResult FinishedResult = new(StepResultKind.Finished, null);
    private static readonly StepResult ReattemptNowResult = new(StepResultKind.Reattempt, null);

    private StepResult(StepResultKind kind, TimeSpan? wait, Backoff? backoff = null, bool rewind = false)
    {
        Kind = kind;
        Wait = wait;
        Backoff = backoff;
        Rewind = rewind;
    }

    /// <summary>What the step asks for.</summary>
    public StepResultKind Kind { get; }

    /// <summary>For <see cref="StepResultKind.Reattempt"/>: how long to wait before running the step again; otherwise <see langword="null"/>.</summary>
    public TimeSpan? Wait { get; }

    /// <summary>
    /// For <see cref="StepResultKind.Reattempt"/> with a backoff: the wait grows with the number of consecutive
    /// reattempts of the step (of any cause) since it last completed; otherwise <see langword="null"/>.
    /// </summary>
    public Backoff? Backoff { get; }

    /// <summary>For <see cref="StepResultKind.Reattempt"/> of a resumable step: start over instead of continuing from the saved cursor.</summary>
    public bool Rewind { get; }

    /// <summary>For <see cref="StepResultKind.WaitFor"/>: the event, how long to wait, and what to do on timeout.</summary>
    public (string EventName, TimeSpan Timeout, WaitTimeout OnTimeout)? AwaitedEvent { get; private init; }

    /// <summary>
    /// The step is done, and the next step waits for the event <paramref name="eventName"/> before it runs (it runs
    /// at once if the event already came). While it waits no Hangfire job polls. The next step reads the payload
    /// with <see cref="Workflow.ReceivedEventAsync{TPayload}(string, CancellationToken)"/>.
    /// </summary>
    /// <param name="eventName">The event's name, e.g. <c>"email_confirmed"</c>.</param>
    /// <param name="timeout">How long to wait (positive).</param>
    /// <param name="onTimeout">What happens when it does not come in time. The default is <see cref="WaitTimeout.Pause"/>.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException">The name or timeout breaks a rule (the message names it).</exception>
    public static StepResult WaitFor(string eventName, TimeSpan timeout, WaitTimeout onTimeout = WaitTimeout.Pause)
    {
        if (WorkflowBuilder.EventNameProblem(eventName) is { } problem)
        {
            throw new ArgumentException($"StepResult.WaitFor: {problem}.", nameof(eventName));
        }

        if (timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "StepResult.WaitFor needs a positive timeout, e.g. TimeSpan.FromDays(3).");
        }

        return new StepResult(StepResultKind.WaitFor, null) { AwaitedEvent = (eventName, timeout, onTimeout) };
    }

    /// <summary>The step is done; continue with the next step.</summary>
    /// <returns>The completed result.</returns>
    public static StepResult Completed() => CompletedResult;

    /// <summary>Cancel the workflow.</summary>
    /// <returns>The cancel result.</returns>
    public static StepResult Cancel() => CancelResult;

    /// <summary>Pause the workflow; it resumes at this step.</summary>
    /// <returns>The pause result.</returns>
    public static StepResult Pause() => PauseResult;

    /// <summary>Skip this step and continue with the next one.</summary>
    /// <returns>The skip result.</returns>
    public static StepResult Skip() => SkipResult;

    /// <summary>Finish the workflow now.</summary>
    /// <returns>The finished result.</returns>
    public static StepResult Finished() => FinishedResult;

    /// <summary>Run this step again, now or after <paramref name="wait"/>; a resumable step may start over.</summary>
    /// <param name="wait">How long to wait before the next attempt; <see langword="null"/> or zero runs it again at once.</param>
    /// <param name="rewind">For a resumable step: the next attempt starts over instead of continuing from the saved cursor.</param>
    /// <returns>The reattempt result.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="wait"/> is negative.</exception>
    public static StepResult Reattempt(TimeSpan? wait = null, bool rewind = false)
    {
        if (wait is null && !rewind)
        {
            return ReattemptNowResult;
        }

        if (wait < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(wait), wait,
                "A reattempt wait must be zero or positive; pass null or TimeSpan.Zero to run the step again at once.");
        }

        return new StepResult(StepResultKind.Reattempt, wait, rewind: rewind);
    }

    /// <summary>
    /// Run this step again after a wait that <paramref name="backoff"/> computes from the number of consecutive
    /// reattempts of this step (1, 2, 3, …) since it last completed, e.g. polling a slow export with
    /// <c>StepResult.Reattempt(Backoff.Exponential(TimeSpan.FromSeconds(10), max: TimeSpan.FromMinutes(10)))</c>.
    /// </summary>
    /// <param name="backoff">The backoff; validated here, like a policy's at definition time.</param>
    /// <param name="rewind">For a resumable step: the next attempt starts over instead of continuing from the saved cursor.</param>
    /// <returns>The reattempt result.</returns>
    /// <exception cref="ArgumentException"><paramref name="backoff"/> breaks a rule (the message names it).</exception>
    public static StepResult Reattempt(Backoff backoff, bool rewind = false)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        if (backoff.Problems().FirstOrDefault() is { } problem)
        {
            throw new ArgumentException($"StepResult.Reattempt was given a backoff that {problem}.", nameof(backoff));
        }

        return new StepResult(StepResultKind.Reattempt, null, backoff, rewind);
    }

    /// <inheritdoc />
    public override string ToString() =>
        (Backoff is { } backoff ? $"{Kind} by {backoff}" : Wait is { } wait ? $"{Kind} after {wait}" : Kind.ToString()) +
        (Rewind ? " (rewind)" : string.Empty);
}
