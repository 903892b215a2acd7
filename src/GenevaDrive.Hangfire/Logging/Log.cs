using GenevaDrive.Execution;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Logging;

/// <summary>
/// GenevaDrive's log categories: one per component, so each can be filtered on its own
/// (e.g. <c>"GenevaDrive.Reconciler": "Warning"</c>). The event ids are stable and listed in docs/internals/logging-event-ids.md.
/// </summary>
internal static class LogCategories
{
    public const string Runtime = "GenevaDrive.Runtime";
    public const string Executor = "GenevaDrive.Executor";
    public const string RunningStep = "GenevaDrive.RunningStep";
    public const string Dispatcher = "GenevaDrive.Dispatcher";
    public const string Reconciler = "GenevaDrive.Reconciler";
    public const string Filter = "GenevaDrive.Filter";
    public const string Dashboard = "GenevaDrive.Dashboard";
    public const string Storage = "GenevaDrive.Storage";
}

/// <summary>Start-up (1xx).</summary>
internal static partial class RuntimeLog
{
    [LoggerMessage(100, LogLevel.Information, "GenevaDrive ready: {Count} workflow(s) on {Storage}.")]
    public static partial void Ready(ILogger logger, int count, string storage);

    [LoggerMessage(101, LogLevel.Error, "GenevaDrive could not register its recurring jobs (reconcile, cleanup). Configure Hangfire's storage before UseGenevaDrive.")]
    public static partial void RecurringJobsNotRegistered(ILogger logger, Exception exception);

    [LoggerMessage(102, LogLevel.Debug, "GenevaDrive found no Hangfire storage to serve dashboard pages for.")]
    public static partial void NoDashboardStorage(ILogger logger, Exception exception);


    [LoggerMessage(103, LogLevel.Warning,
        "Definition drift: {Count} {State} workflow(s) of '{Workflow}' stand at step '{Step}': {Why}. Deploy a build that defines it, declare " +
        "steps.Renamed/steps.Retired, or jump them to a defined step (IWorkflowClient.GetDefinitionDriftAsync, the Workflows page).")]
    public static partial void DefinitionDrift(ILogger logger, long count, string state, string workflow, string step, string why);

    [LoggerMessage(104, LogLevel.Warning, "The definition drift check failed; it runs again at the next dashboard visit or metrics scrape.")]
    public static partial void DefinitionDriftFailed(ILogger logger, Exception exception);

    [LoggerMessage(105, LogLevel.Warning,
        "Counting workflows by state failed; the dashboard and the genevadrive.workflows gauge keep the counts taken at {TakenAt:u} (none when empty), and a recount is tried in the background.")]
    public static partial void CountFailed(ILogger logger, Exception exception, DateTime? takenAt);

    [LoggerMessage(106, LogLevel.Information, "Schema migration {Version} of {Latest} applied and committed in {Milliseconds} ms.")]
    public static partial void MigrationApplied(ILogger logger, int version, int latest, long milliseconds);

    [LoggerMessage(107, LogLevel.Information,
        "The GenevaDrive schema is at version {Installed}, newer than this build's {Needed} (a later version migrated it): fine, since migrations only add.")]
    public static partial void NewerSchema(ILogger logger, int installed, int needed);

    [LoggerMessage(108, LogLevel.Warning,
        "The {Storage} connection pool opens at most {MaxPoolSize} connection(s), and GenevaDrive needs about {Needed} here: 2 per Hangfire " +
        "worker ({Workers}) and 4 for the reconciler, cleanup and commands, plus one per concurrent dashboard request. Raise Max Pool Size in " +
        "the connection string to at least {Needed}; otherwise steps wait for a connection, and a wait past the pool's timeout is retried as a transient fault.")]
    public static partial void PoolTooSmall(ILogger logger, string storage, int maxPoolSize, int needed, int workers);

    [LoggerMessage(109, LogLevel.Warning,
        "A schema migration met running steps (a deadlock or a lock wait past the installer's lock timeout) and rolled back; trying it again ({Retry} of {MaxRetries}).")]
    public static partial void MigrationRetried(ILogger logger, Exception exception, int retry, int maxRetries);

    [LoggerMessage(110, LogLevel.Warning, "{Problem}")]
    public static partial void HeroLoaderMissing(ILogger logger, string problem);

    [LoggerMessage(111, LogLevel.Information,
        "GenevaDrive running: workflows {Workflows}; storage {Storage} at schema version {SchemaVersion}; lease {Lease}, heartbeat every {Heartbeat}; " +
        "Hangfire schedule poll {SchedulePoll}{PollSource}.")]
    public static partial void Running(ILogger logger, string workflows, string storage, int schemaVersion, string lease, string heartbeat,
        string schedulePoll, string pollSource);

    [LoggerMessage(112, LogLevel.Warning, "{Problem}")]
    public static partial void WaitShorterThanSchedulePoll(ILogger logger, string problem);
}

/// <summary>Claim → run → finalize (2xx).</summary>
internal static partial class ExecutorLog
{
    [LoggerMessage(200, LogLevel.Warning, "Hangfire job {JobId} points to step execution {StepExecutionId}, which no longer exists; nothing runs.")]
    public static partial void ExecutionMissing(ILogger logger, string jobId, long stepExecutionId);

    [LoggerMessage(201, LogLevel.Information, "Step execution {StepExecutionId} not run by job {JobId}: {Reason}")]
    public static partial void NotRun(ILogger logger, long stepExecutionId, string jobId, string reason);

    [LoggerMessage(202, LogLevel.Warning, "{Reason}")]
    public static partial void ClaimedAfterRecovery(ILogger logger, string reason);

    [LoggerMessage(203, LogLevel.Error, "The exception handler of step '{Step}' of workflow '{Workflow}' threw; the workflow is paused.")]
    public static partial void HandlerThrew(ILogger logger, Exception exception, string step, string workflow);

    [LoggerMessage(204, LogLevel.Warning, "Step execution {StepExecutionId} lost its lease before finishing; its result ({Result}) was discarded.")]
    public static partial void ResultDiscarded(ILogger logger, long stepExecutionId, string result);

    [LoggerMessage(205, LogLevel.Warning,
        "Released a step this build cannot run: {What} ({Build}). A worker that defines it takes it (retried every {RetryDelay}); " +
        "its workflow pauses if none has by {PausesAt:u}. Logged once per step and process.")]
    public static partial void UndefinedStepReleased(ILogger logger, string what, string build, TimeSpan retryDelay, DateTime pausesAt);
}

/// <summary>A step while it runs: heartbeat and fencing (3xx).</summary>
internal static partial class RunningStepLog
{
    [LoggerMessage(300, LogLevel.Warning, "Heartbeat of step execution {StepExecutionId} failed: {Error}")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, long stepExecutionId, string error);

    [LoggerMessage(301, LogLevel.Warning, "Fencing the running step: {Reason}. Its cancellation token fires now.")]
    public static partial void Fenced(ILogger logger, string reason);

    [LoggerMessage(302, LogLevel.Warning, "A cancellation callback of the step threw while fencing.")]
    public static partial void FenceCallbackThrew(ILogger logger, Exception exception);

    [LoggerMessage(303, LogLevel.Error, "Could not record the interruption of step execution {StepExecutionId}; it is recovered when its lease expires.")]
    public static partial void InterruptionNotRecorded(ILogger logger, Exception exception, long stepExecutionId);

    [LoggerMessage(304, LogLevel.Error,
        "Could not record the outcome ({Outcome}) of step execution {StepExecutionId}: the database stayed unreachable for the finalize's retry budget. " +
        "The job is not failed for it: the step's lease runs out and the step is recovered (its body may run again; idempotency keys guard side effects).")]
    public static partial void OutcomeNotRecorded(ILogger logger, Exception exception, string outcome, long stepExecutionId);
}

/// <summary>Step jobs in Hangfire (4xx).</summary>
internal static partial class DispatcherLog
{
    [LoggerMessage(400, LogLevel.Error, "Could not create the Hangfire job of step execution {StepExecutionId} ({Step}) of workflow {WorkflowId}; the reconciler will retry. {Error}")]
    public static partial void DispatchFailed(ILogger logger, Exception exception, long stepExecutionId, string step, long workflowId, string error);

    [LoggerMessage(401, LogLevel.Warning, "Could not remove Hangfire job {JobId}; it will find its step ended and do nothing.")]
    public static partial void RemoveFailed(ILogger logger, Exception exception, string jobId);
}

/// <summary>Reconcile and cleanup (5xx).</summary>
internal static partial class ReconcilerLog
{
    [LoggerMessage(500, LogLevel.Warning, "Step execution {StepExecutionId} ({Step}) of workflow {WorkflowId} lost its worker; recovered by {Action}.")]
    public static partial void Recovered(ILogger logger, long stepExecutionId, string step, long workflowId, StuckRecoveryAction action);

    [LoggerMessage(501, LogLevel.Error, "Could not recover step execution {StepExecutionId}; moving on.")]
    public static partial void RecoverFailed(ILogger logger, Exception exception, long stepExecutionId);

    [LoggerMessage(502, LogLevel.Warning, "Moved overdue step job {JobId} of step execution {StepExecutionId} ({Step}) of workflow {WorkflowId} to its queue; Hangfire's schedule poller had not (due {Due:u}).")]
    public static partial void MovedToQueue(ILogger logger, string? jobId, long stepExecutionId, string step, long workflowId, DateTime due);

    [LoggerMessage(503, LogLevel.Warning, "Re-created the Hangfire job of step execution {StepExecutionId} ({Step}) of workflow {WorkflowId} (job was {JobId}).")]
    public static partial void JobRecreated(ILogger logger, long stepExecutionId, string step, long workflowId, string jobId);

    [LoggerMessage(504, LogLevel.Error, "Could not reconcile step execution {StepExecutionId}; moving on.")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception, long stepExecutionId);

    [LoggerMessage(505, LogLevel.Information, "GenevaDrive reconcile: {Report}.")]
    public static partial void Reconciled(ILogger logger, ReconcileReport report);

    [LoggerMessage(506, LogLevel.Error, "GenevaDrive cleanup stopped after {Batches} batch(es); the next run continues.")]
    public static partial void CleanupStopped(ILogger logger, Exception exception, int batches);

    [LoggerMessage(507, LogLevel.Information, "GenevaDrive cleanup: {Report}.")]
    public static partial void CleanedUp(ILogger logger, CleanupReport report);

    [LoggerMessage(508, LogLevel.Information, "Step job {JobId} was deleted; workflow {WorkflowId} is paused at '{Step}'. Resume it, or requeue the job, to run the step.")]
    public static partial void PausedForDeletedJob(ILogger logger, string jobId, long workflowId, string step);
}

/// <summary>The Hangfire job filter (6xx).</summary>
internal static partial class FilterLog
{
    [LoggerMessage(600, LogLevel.Error, "Could not pause the workflow of deleted step job {JobId}.")]
    public static partial void PauseForDeletedJobFailed(ILogger logger, Exception exception, string jobId);
}

/// <summary>Dashboard commands (7xx).</summary>
internal static partial class DashboardLog
{
    [LoggerMessage(700, LogLevel.Information, "Dashboard: workflow {WorkflowId} is now {State} after {Action}.")]
    public static partial void CommandApplied(ILogger logger, long workflowId, WorkflowState state, string action);

    [LoggerMessage(701, LogLevel.Information, "Dashboard: {Action} of workflow {WorkflowId} refused: {Reason}")]
    public static partial void CommandRefused(ILogger logger, string action, long workflowId, string reason);

    [LoggerMessage(702, LogLevel.Information, "Dashboard: event {EventName} sent to workflow {WorkflowId}: {Outcome}.")]
    public static partial void EventSent(ILogger logger, string eventName, long workflowId, EventDeliveryOutcome outcome);
}

/// <summary>Storage (8xx).</summary>
internal static partial class StorageLog
{
    [LoggerMessage(800, LogLevel.Warning, "Transient database error ({Error}); retrying the transaction in {Delay} ms (attempt {Attempt}).")]
    public static partial void RetryingTransaction(ILogger logger, Exception? exception, string? error, int delay, int attempt);

    [LoggerMessage(801, LogLevel.Warning, "Could not record the ids of {Count} new step job(s) ({Error}); their claims record them, and the reconciler adds a job to any step still without one after the dispatch grace period.")]
    public static partial void JobIdsNotWritten(ILogger logger, Exception exception, int count, string error);
}
