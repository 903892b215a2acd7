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

    private StepResult(StepResultKind kind, TimeSpan? wait)
    {
        Kind = kind;
        Wait = wait;
    }

    /// <summary>What the step asks for.</summary>
    public StepResultKind Kind { get; }

    /// <summary>For <see cref="StepResultKind.Reattempt"/>: how long to wait before running the step again; otherwise <see langword="null"/>.</summary>
    public TimeSpan? Wait { get; }

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

    /// <summary>Run this step again, now or after <paramref name="wait"/>.</summary>
    /// <param name="wait">How long to wait before the next attempt; <see langword="null"/> or zero runs it again at once.</param>
    /// <returns>The reattempt result.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="wait"/> is negative.</exception>
    public static StepResult Reattempt(TimeSpan? wait = null)
    {
        if (wait is null)
        {
            return ReattemptNowResult;
        }

        if (wait.Value < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(wait), wait,
                "A reattempt wait must be zero or positive; pass null or TimeSpan.Zero to run the step again at once.");
        }

        return new StepResult(StepResultKind.Reattempt, wait);
    }

    /// <inheritdoc />
    public override string ToString() => Wait is { } wait ? $"{Kind} after {wait}" : Kind.ToString();
}
