using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Hangfire.States;
using Microsoft.Extensions.Logging;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>What one reconciliation did.</summary>
internal sealed record ReconcileReport(int JobsCreated, int ExecutionsRecovered, int Errors, int JobsMovedToQueue = 0, int ChildrenCanceled = 0)
{
    public override string ToString() =>
        $"{JobsCreated} step job(s) re-created, {JobsMovedToQueue} overdue scheduled job(s) moved to their queue, {ExecutionsRecovered} abandoned step(s) recovered, " +
        (ChildrenCanceled > 0 ? $"{ChildrenCanceled} child workflow(s) of canceled parents canceled, " : string.Empty) + $"{Errors} error(s)";
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
internal sealed class WorkflowMaintenance(WorkflowStore store, IStepJobDispatcher dispatcher, GenevaDriveOptions options, ILogger logger,
    Definition.WorkflowRegistry? registry = null)
{
    private const int PageSize = 500;

    /// <summary>Pages after the head that one run reads, continuing where the last run stopped (a sweep of a backlog).</summary>
    internal const int SweepPagesPerRun = 3;

    // Where the sweep of due executions stopped: the next run continues after it (null: from the head). A reference,
    // so two overlapping runs read and write it whole.
    private volatile SweepPosition? _sweep;

    private sealed record SweepPosition(DateTime ScheduledFor, long Id);

    public async Task<ReconcileReport> ReconcileAsync(CancellationToken ct = default)
    {
        int created = 0, recovered = 0, errors = 0;
        foreach (var execution in await store.GetExpiredLeasesAsync(PageSize, ct).ConfigureAwait(false))
        {
            try
            {
                var result = await store.RecoverExpiredLeaseAsync(execution.Id, options.StuckRecoveryAction == StuckRecoveryAction.Reattempt, ct,
                    execution.WorkflowId).ConfigureAwait(false);
                if (result is null)
                {
                    continue;
                }

                recovered++;
                ReconcilerLog.Recovered(logger, execution.Id, execution.StepName, execution.WorkflowId, options.StuckRecoveryAction);
                if (result.Execution is { } retry && await dispatcher.DispatchAsync(result.Workflow, retry, ct).ConfigureAwait(false) is not null)
                {
                    created++;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors++;
                ReconcilerLog.RecoverFailed(logger, e, execution.Id);
            }
        }

        var now = UtcTimes.Now(options.TimeProvider);
        int moved = 0;
        // This process's job ids not yet written are written first: an execution waiting for its id is not missing its job.
        await store.JobIds.FlushAsync().ConfigureAwait(false);
        foreach (var execution in await DueExecutionsAsync(now, ct).ConfigureAwait(false))
        {
            try
            {
                var repair = RepairFor(execution, now);
                if (repair == Repair.None)
                {
                    continue;
                }

                var workflow = await store.GetWorkflowAsync(execution.WorkflowId, ct).ConfigureAwait(false);
                if (workflow is null)
                {
                    continue;
                }

                if (repair == Repair.MoveToQueue && dispatcher.MoveToQueue(workflow, execution.JobId!))
                {
                    // The same job, now in its queue; the waiting clock restarts so a backlog is not mistaken for a loss.
                    await store.SetJobIdAsync(execution.Id, execution.JobId!, ct).ConfigureAwait(false);
                    moved++;
                    ReconcilerLog.MovedToQueue(logger, execution.JobId, execution.Id, execution.StepName, execution.WorkflowId, execution.ScheduledFor);
                }
                else if (repair == Repair.Dispatch && await dispatcher.DispatchAsync(workflow, execution, ct).ConfigureAwait(false) is not null)
                {
                    created++;
                    ReconcilerLog.JobRecreated(logger, execution.Id, execution.StepName, execution.WorkflowId, execution.JobId ?? "never created");
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors++;
                ReconcilerLog.ReconcileFailed(logger, e, execution.Id);
            }
        }

        var (childrenCanceled, cascadeErrors) = await CancelOrphanedChildrenAsync(ct).ConfigureAwait(false);
        var report = new ReconcileReport(created, recovered, errors + cascadeErrors, moved, childrenCanceled);
        ReconcilerLog.Reconciled(logger, report);
        return report;
    }

    /// <summary>
    /// The cancel cascade's backstop: ongoing children whose parent is canceled (a crash came between the parent's cancel and
    /// its children's) are canceled now, unless the step that started them keeps them running (then they are passed over).
    /// </summary>
    private async Task<(int Canceled, int Errors)> CancelOrphanedChildrenAsync(CancellationToken ct)
    {
        int canceled = 0, errors = 0;
        long after = 0;
        IReadOnlyList<(long Id, long ParentId, string Group, string ParentType)> page;
        do
        {
            page = await store.GetOrphanedChildrenAsync(after, PageSize, ct).ConfigureAwait(false);
            foreach (var (id, parentId, group, parentType) in page)
            {
                after = id;
                try
                {
                    if (registry is not null && await ChildCascade.CancelOneAsync(store, dispatcher, registry, parentId, parentType, id, group, ct)
                            .ConfigureAwait(false) is { } child)
                    {
                        canceled++;
                        canceled += await ChildCascade.CancelChildrenAsync(store, dispatcher, registry, child, ct).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    errors++;
                    ReconcilerLog.ReconcileFailed(logger, e, id);
                }
            }
        }
        while (page.Count == PageSize);

        return (canceled, errors);
    }

    /// <summary>
    /// The due executions this run looks at: always the oldest page (the likeliest to be stuck), then up to
    /// <see cref="SweepPagesPerRun"/> pages after where the previous run stopped, so a lost job behind a backlog of
    /// healthy ones is reached within a few runs instead of only when the head drains.
    /// </summary>
    private async Task<IReadOnlyList<StepExecutionRecord>> DueExecutionsAsync(DateTime now, CancellationToken ct)
    {
        var head = await store.GetDueScheduledAsync(now, PageSize, ct).ConfigureAwait(false);
        if (head.Count < PageSize)
        {
            _sweep = null;
            return head;
        }

        var all = new List<StepExecutionRecord>(head);
        var after = _sweep is { } continued && Compare((continued.ScheduledFor, continued.Id), Key(head[^1])) > 0
            ? (continued.ScheduledFor, continued.Id)
            : Key(head[^1]);
        for (var page = 0; page < SweepPagesPerRun; page++)
        {
            var next = await store.GetDueScheduledAfterAsync(now, after, PageSize, ct).ConfigureAwait(false);
            all.AddRange(next);
            if (next.Count < PageSize)
            {
                _sweep = null;
                return all;
            }

            after = Key(next[^1]);
        }

        _sweep = new SweepPosition(after.ScheduledFor, after.Id);
        return all;
    }

    private static (DateTime ScheduledFor, long Id) Key(StepExecutionRecord execution) => (execution.ScheduledFor, execution.Id);

    private static int Compare((DateTime ScheduledFor, long Id) a, (DateTime ScheduledFor, long Id) b) =>
        a.ScheduledFor != b.ScheduledFor ? a.ScheduledFor.CompareTo(b.ScheduledFor) : a.Id.CompareTo(b.Id);

    private enum Repair
    {
        None,
        Dispatch,
        MoveToQueue,
    }

    /// <summary>
    /// Decides, from Hangfire's own state of the job and the time it was dispatched, whether a due scheduled
    /// execution needs help. Staleness is measured from the later of dispatch and due time, and every repair
    /// restarts that clock, so a backlogged queue gets at most one extra job per execution per threshold.
    /// </summary>
    private Repair RepairFor(StepExecutionRecord execution, DateTime now)
    {
        if (execution.JobId is null)
        {
            // The job is created right after the commit; give that a moment before stepping in.
            return execution.CreatedAt <= now - options.DispatchGracePeriod ? Repair.Dispatch : Repair.None;
        }

        var waitingSince = Later(execution.DispatchedAt ?? execution.CreatedAt, execution.ScheduledFor);
        var status = dispatcher.GetJobStatus(execution.JobId);
        switch (status?.State)
        {
            case null:
            case "Succeeded":
            case "Deleted":
            case "Failed":
                // Gone or ended while the execution still waits: nothing will ever run it. (A job just
                // handed over may briefly look ended; the claim makes any duplicate a no-op.)
                return Repair.Dispatch;
            case "Scheduled":
                // Due but not moved: Hangfire's schedule poller is stuck (e.g. an orphaned lock after a database restart).
                return execution.ScheduledFor <= now - options.ScheduledJobGrace ? Repair.MoveToQueue : Repair.None;
            case "Processing" when status.OnDeadServer:
                // Fetched by a worker that died before it could claim the execution.
                return waitingSince <= now - options.DispatchGracePeriod ? Repair.Dispatch : Repair.None;
            default:
                // Enqueued (or processing on a live server) for longer than the threshold: the job may sit with a
                // worker that died right after fetching it, invisible to other workers; add one job, once per threshold.
                return waitingSince <= now - options.StuckScheduledThreshold ? Repair.Dispatch : Repair.None;
        }
    }

    private static DateTime Later(DateTime a, DateTime b) => a > b ? a : b;

    /// <summary>
    /// How long a command's operation row is kept: far longer than any retry budget (a repeat looks for its row within
    /// seconds), short enough that the table stays small. Deleted by every cleanup run, even with cleanup of workflows off.
    /// </summary>
    internal static readonly TimeSpan OperationRetention = TimeSpan.FromDays(1);

    public async Task<CleanupReport> CleanupAsync(CancellationToken ct = default)
    {
        await PruneOperationsAsync(ct).ConfigureAwait(false);
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
                ReconcilerLog.CleanupStopped(logger, e, batches);
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
        ReconcilerLog.CleanedUp(logger, report);
        return report;
    }

    private async Task PruneOperationsAsync(CancellationToken ct)
    {
        var cutoff = UtcTimes.Now(options.TimeProvider) - OperationRetention;
        try
        {
            while (await store.DeleteOperationsBeforeAsync(cutoff, options.HousekeepingBatchSize, ct).ConfigureAwait(false) == options.HousekeepingBatchSize)
            {
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ReconcilerLog.CleanupStopped(logger, e, 0);
        }
    }

    /// <summary>
    /// A step job was deleted from the dashboard while scheduled or enqueued: pause its workflow so the step
    /// is not silently stranded (the execution stays scheduled; Resume creates a new job). Deleted while it ran: the
    /// operator means "stop this step" — the workflow is paused, the running body's token fires
    /// (<see cref="StepStopReason.JobDeleted"/>), its attempt is closed, and the step runs again only on Resume.
    /// </summary>
    public async Task<bool> PauseForDeletedJobAsync(long executionId, string jobId, CancellationToken ct = default)
    {
        var execution = await store.GetStepExecutionAsync(executionId, ct).ConfigureAwait(false);
        if (execution is null || execution.State is not ("scheduled" or "in_progress") || execution.JobId != jobId)
        {
            return false;
        }

        try
        {
            await store.PauseAsync(execution.WorkflowId, ct, pausedByJobId: jobId).ConfigureAwait(false);
            ReconcilerLog.PausedForDeletedJob(logger, jobId, execution.WorkflowId, execution.StepName);
            return true;
        }
        catch (InvalidWorkflowStateException)
        {
            return false;
        }
    }
}
