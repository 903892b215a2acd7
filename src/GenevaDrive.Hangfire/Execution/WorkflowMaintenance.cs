using GenevaDrive.Storage;
using Hangfire.States;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Execution;

/// <summary>What one reconciliation did.</summary>
internal sealed record ReconcileReport(int JobsCreated, int ExecutionsRecovered, int Errors)
{
    public override string ToString() =>
        $"{JobsCreated} step job(s) re-created, {ExecutionsRecovered} abandoned step(s) recovered, {Errors} error(s)";
}

/// <summary>What one cleanup did.</summary>
internal sealed record CleanupReport(int WorkflowsDeleted, int ExecutionsDeleted, int Batches, bool Disabled)
{
    public override string ToString() => Disabled
        ? "Cleanup is disabled (DeleteCompletedWorkflowsAfter is null)"
        : $"{WorkflowsDeleted} workflow(s) and {ExecutionsDeleted} step execution(s) deleted in {Batches} batch(es)";
}

/// <summary>
/// Housekeeping, run by Hangfire recurring jobs. <b>Reconcile</b> repairs the gap between our rows (the
/// outbox) and Hangfire's jobs: a due scheduled execution of a ready workflow whose job never got created,
/// vanished, ended, or sits stuck gets a new job; an in-progress execution whose lease expired is closed as
/// recovered and retried (or its workflow canceled). <b>Cleanup</b> deletes ended workflows past their
/// retention in short batches. Both keep going past a bad row and are safe to run on several servers at
/// once (a duplicate job is a no-op at claim time).
/// </summary>
internal sealed class WorkflowMaintenance(WorkflowStore store, IStepJobDispatcher dispatcher, GenevaDriveOptions options, ILogger logger)
{
    private const int PageSize = 500;

    public async Task<ReconcileReport> ReconcileAsync(CancellationToken ct = default)
    {
        int created = 0, recovered = 0, errors = 0;
        foreach (var execution in await store.GetExpiredLeasesAsync(PageSize, ct).ConfigureAwait(false))
        {
            try
            {
                var result = await store.RecoverExpiredLeaseAsync(execution.Id, options.StuckRecoveryAction == StuckRecoveryAction.Reattempt, ct)
                    .ConfigureAwait(false);
                if (result is null)
                {
                    continue;
                }

                recovered++;
                logger.LogWarning("Step execution {StepExecutionId} ({Step}) of workflow {WorkflowId} lost its worker; recovered by {Action}.",
                    execution.Id, execution.StepName, execution.WorkflowId, options.StuckRecoveryAction);
                if (result.Execution is { } retry && await dispatcher.DispatchAsync(result.Workflow, retry, ct).ConfigureAwait(false) is not null)
                {
                    created++;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors++;
                logger.LogError(e, "Could not recover step execution {StepExecutionId}; moving on.", execution.Id);
            }
        }

        var now = UtcTimes.Now(options.TimeProvider);
        foreach (var execution in await store.GetDueScheduledAsync(now, PageSize, ct).ConfigureAwait(false))
        {
            try
            {
                if (!NeedsJob(execution, now))
                {
                    continue;
                }

                var workflow = await store.GetWorkflowAsync(execution.WorkflowId, ct).ConfigureAwait(false);
                if (workflow is not null && await dispatcher.DispatchAsync(workflow, execution, ct).ConfigureAwait(false) is not null)
                {
                    created++;
                    logger.LogWarning("Re-created the Hangfire job of step execution {StepExecutionId} ({Step}) of workflow {WorkflowId} (job was {JobId}).",
                        execution.Id, execution.StepName, execution.WorkflowId, execution.JobId ?? "never created");
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors++;
                logger.LogError(e, "Could not reconcile step execution {StepExecutionId}; moving on.", execution.Id);
            }
        }

        var report = new ReconcileReport(created, recovered, errors);
        logger.LogInformation("GenevaDrive reconcile: {Report}.", report);
        return report;
    }

    private bool NeedsJob(StepExecutionRecord execution, DateTime now)
    {
        if (execution.JobId is null)
        {
            // The job is created right after the commit; give that a moment before stepping in.
            return execution.CreatedAt <= now - options.DispatchGracePeriod;
        }

        var state = dispatcher.GetJobState(execution.JobId);
        if (state is null || state == SucceededState.StateName || state == DeletedState.StateName || state == FailedState.StateName)
        {
            return true;
        }

        // Enqueued or scheduled far past its time: the queue is not served or the job is lost in it.
        return state != ProcessingState.StateName && execution.ScheduledFor <= now - options.StuckScheduledThreshold;
    }

    public async Task<CleanupReport> CleanupAsync(CancellationToken ct = default)
    {
        if (options.DeleteCompletedWorkflowsAfter is not { } retention)
        {
            return new CleanupReport(0, 0, 0, Disabled: true);
        }

        var cutoff = UtcTimes.Now(options.TimeProvider) - retention;
        int workflows = 0, executions = 0, batches = 0;
        while (true)
        {
            CleanupBatch batch;
            try
            {
                batch = await store.DeleteEndedWorkflowsBatchAsync(cutoff, options.HousekeepingBatchSize, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "GenevaDrive cleanup stopped after {Batches} batch(es); the next run continues.", batches);
                break;
            }

            if (batch.WorkflowsDeleted == 0)
            {
                break;
            }

            batches++;
            workflows += batch.WorkflowsDeleted;
            executions += batch.StepExecutionsDeleted;
            if (batch.WorkflowsDeleted < options.HousekeepingBatchSize)
            {
                break;
            }
        }

        var report = new CleanupReport(workflows, executions, batches, Disabled: false);
        logger.LogInformation("GenevaDrive cleanup: {Report}.", report);
        return report;
    }

    /// <summary>
    /// A step job was deleted from the dashboard while scheduled or enqueued: pause its workflow so the step
    /// is not silently stranded (the execution stays scheduled; Resume creates a new job).
    /// </summary>
    public async Task<bool> PauseForDeletedJobAsync(long executionId, string jobId, CancellationToken ct = default)
    {
        var execution = await store.GetStepExecutionAsync(executionId, ct).ConfigureAwait(false);
        if (execution is null || execution.State != "scheduled" || execution.JobId != jobId)
        {
            return false;
        }

        try
        {
            await store.PauseAsync(execution.WorkflowId, ct).ConfigureAwait(false);
            logger.LogInformation("Step job {JobId} was deleted; workflow {WorkflowId} is paused at '{Step}'. Resume it to run the step.",
                jobId, execution.WorkflowId, execution.StepName);
            return true;
        }
        catch (InvalidWorkflowStateException)
        {
            return false;
        }
    }
}
