namespace GenevaDrive;

/// <summary>Describes the step run that a before, around or after hook is called for.</summary>
public sealed class StepContext
{
    internal StepContext(string workflowName, long workflowId, string stepName, long stepExecutionId, int attempt = 1)
    {
        WorkflowName = workflowName;
        WorkflowId = workflowId;
        StepName = stepName;
        StepExecutionId = stepExecutionId;
        Attempt = attempt;
    }

    /// <summary>
    /// Why the step's cancellation token fired: <see cref="StepStopReason.None"/> while it has not. A step that cleans up
    /// differently for a shutdown (it runs again soon) than for a cancel (nothing runs after it) reads it here.
    /// </summary>
    public StepStopReason StopReason => StopReasonSource?.Invoke() ?? StepStopReason.None;

    /// <summary>Where <see cref="StopReason"/> comes from: the run that executes the step.</summary>
    internal Func<StepStopReason>? StopReasonSource { get; init; }

    /// <summary>The stable name of the workflow type.</summary>
    public string WorkflowName { get; }

    /// <summary>The id of the workflow instance.</summary>
    public long WorkflowId { get; }

    /// <summary>The name of the step that runs.</summary>
    public string StepName { get; }

    /// <summary>The id of the step execution (this attempt).</summary>
    public long StepExecutionId { get; }

    /// <summary>
    /// A fencing token for this attempt's side effects: it grows with every new attempt of the workflow's
    /// steps (a reattempt, a takeover after a lost lease, a rerun after an interruption), so a store that
    /// keeps the largest token it has seen per workflow and step can refuse a write carrying a smaller one —
    /// the write of a stale run that kept going after its lease was taken over (a process frozen by the
    /// operating system cannot be stopped from inside; this is how its late writes are rejected).
    /// It is the step execution id.
    /// </summary>
    public long FencingToken => StepExecutionId;

    /// <summary>
    /// The logical attempt of this step, from 1. A reattempt (by the step or an exception policy) and a retry
    /// after a failure start the next one; a takeover after a lost lease, an interruption (a deploy, a shutdown),
    /// a pause and a resumable step's time slice continue the same one.
    /// </summary>
    public int Attempt { get; }

    /// <summary>
    /// A key for this logical attempt's side effects, to hand to a payment API or a mail provider that
    /// deduplicates by key: the same for every run of the same attempt — so a run that took over from a crashed
    /// or frozen one, or that repeats after an interruption, is recognised as a duplicate and charged once —
    /// and different for a new attempt, which is meant to try again. Built from the workflow id, the step
    /// name and <see cref="Attempt"/>: <c>gd-{workflowId}-{hash of the step name}-{attempt}</c>, at most 60
    /// ASCII characters.
    /// </summary>
    public string IdempotencyKey => _idempotencyKey ??= BuildIdempotencyKey(WorkflowId, StepName, Attempt);

    private string? _idempotencyKey;

    internal static string BuildIdempotencyKey(long workflowId, string stepName, int attempt)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(stepName));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"gd-{workflowId}-{Convert.ToHexString(hash, 0, 8).ToLowerInvariant()}-{attempt}");
    }
}
