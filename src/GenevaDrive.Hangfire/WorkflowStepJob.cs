using Hangfire;
using Hangfire.Server;

namespace GenevaDrive;

/// <summary>
/// The Hangfire job that runs one step execution. Its arguments are the step execution id (the only one
/// that matters) and, for the dashboard, the step's label "workflow #id › step". Hangfire's automatic
/// retry is off: the workflow's exception policy owns retries. Claiming and finalizing happen in the
/// GenevaDrive job filter around these methods.
/// <para>
/// Public only because Hangfire stores its type and method in every job it creates (and must find them again in
/// another process); it is not for application code, so IntelliSense hides it.
/// </para>
/// </summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class WorkflowStepJob
{
    /// <summary>Runs the step execution claimed by the GenevaDrive filter: the jobs this version creates.</summary>
    /// <param name="stepExecutionId">The step execution to run.</param>
    /// <param name="step">
    /// The step's label, "workflow #id › step" (the dashboard shows it; the workflow id in it lets the claim lock the workflow
    /// row directly).
    /// </param>
    /// <param name="context">Supplied by Hangfire.</param>
    /// <param name="cancellationToken">Supplied by Hangfire; fires when the server shuts down.</param>
    /// <returns>A short description of what happened, shown as the job's result.</returns>
    /// <remarks>
    /// Two arguments instead of <see cref="RunAsync"/>'s four: Hangfire deserializes every argument of a job at each of its
    /// state changes, so each one less saves that work on every step.
    /// </remarks>
    [AutomaticRetry(Attempts = 0)]
    [JobDisplayName("{1}")]
    public Task<string> RunStepAsync(long stepExecutionId, string step, PerformContext? context, CancellationToken cancellationToken) =>
        Run(stepExecutionId, step, context, cancellationToken);

    /// <summary>
    /// Runs the step execution claimed by the GenevaDrive filter: the form of the jobs created by versions before
    /// <see cref="RunStepAsync"/>, kept so that their enqueued and scheduled jobs still run.
    /// </summary>
    /// <param name="stepExecutionId">The step execution to run.</param>
    /// <param name="workflowName">The workflow's display name (dashboard only).</param>
    /// <param name="workflowId">The workflow id (dashboard only).</param>
    /// <param name="stepName">The step name (dashboard only).</param>
    /// <param name="context">Supplied by Hangfire.</param>
    /// <param name="cancellationToken">Supplied by Hangfire; fires when the server shuts down.</param>
    /// <returns>A short description of what happened, shown as the job's result.</returns>
    [AutomaticRetry(Attempts = 0)]
    [JobDisplayName("{1} #{2} › {3}")]
    public Task<string> RunAsync(long stepExecutionId, string workflowName, long workflowId, string stepName,
        PerformContext? context, CancellationToken cancellationToken) =>
        Run(stepExecutionId, Server.StepJobLabel.Format(workflowName, workflowId, stepName), context, cancellationToken);

    private static Task<string> Run(long stepExecutionId, string step, PerformContext? context, CancellationToken cancellationToken)
    {
        var run = Server.RunningStep.From(context) ?? throw new InvalidOperationException(
            $"Step execution {stepExecutionId} ({step}) was not claimed: the GenevaDrive job filter is not installed on this Hangfire server. " +
            "Call UseGenevaDrive on the Hangfire configuration of every server that processes workflow queues.");
        return run.ExecuteAsync(cancellationToken);
    }
}
