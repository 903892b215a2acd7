using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>
/// What the run of a step decided: the completion to record, the text to show on the Hangfire job, and
/// the exception that should fail the job (when the workflow ends up paused or canceled by an error).
/// </summary>
internal sealed record StepDecision(StepCompletion Completion, string ResultText, Exception? FailJobWith = null)
{
    /// <summary>
    /// The run did not start the step because this build does not define it: the attempt is handed back, uncounted,
    /// to run again shortly on a worker that does (a rolling deploy). Not an interruption by Hangfire.
    /// </summary>
    public bool Released { get; init; }
}

/// <summary>What the finalize phase reports back to the job.</summary>
internal sealed record FinalizeReport(FinalizeOutcome Outcome, string ResultText, Exception? FailJobWith, StepExecutionRecord? NextExecution);
