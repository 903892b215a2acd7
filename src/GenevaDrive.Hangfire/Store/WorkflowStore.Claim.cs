using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// The lease protocol, part 1: claim. A step job takes the step execution under a lease (four cases: scheduled, a
// lease that ran out, a failed step retried from the dashboard, an interrupted attempt handed back to its job); the
// lease is dated by the lease clock. Part 2 (heartbeat, checkpoint, finalize, recovery) is in
// WorkflowStore.Finalize.cs.
internal sealed partial class WorkflowStore
{
    /// <summary>Whether lease times come from the database's clock (see the constructor).</summary>
    public bool LeasesOnDatabaseClock { get; }

    /// <summary>The clock of leases: the database's (one query), or the application's.</summary>
    private async Task<DateTime> LeaseNowAsync(DbConnection connection, DbTransaction? tx, CancellationToken ct, StoreIo io = default) =>
        LeasesOnDatabaseClock
            ? UtcTimes.ToMillisecond(await io.ScalarAsync<DateTime>(connection, Command(Sql.SelectDatabaseNow, null, tx, ct)).ConfigureAwait(false))
            : Now;

    /// <summary>
    /// Claims a step execution for the job <paramref name="jobId"/>: the idempotent
    /// <c>scheduled → in_progress</c> transition with a fresh lease, plus the takeover of an expired lease
    /// and the retry of a failed step of a workflow paused on it (a dashboard requeue).
    /// </summary>
    /// <param name="executionId">The step execution.</param>
    /// <param name="jobId">The Hangfire job claiming it.</param>
    /// <param name="leaseDuration">How long the lease lasts without a heartbeat.</param>
    /// <param name="ct">Cancels the claim.</param>
    /// <param name="workflowIdHint">
    /// The execution's workflow, when the caller knows it (the step job's arguments carry it): the workflow row is
    /// then locked directly, without first reading the execution to learn it. A wrong hint falls back to that read.
    /// </param>
    /// <param name="io">Blocking calls for a Hangfire worker thread; asynchronous by default.</param>
    public Task<ClaimResult> ClaimAsync(long executionId, string jobId, TimeSpan leaseDuration, CancellationToken ct = default,
        long? workflowIdHint = null, StoreIo io = default)
    {
        // One token for every try: a repeat after a commit whose acknowledgement was lost finds its own lease.
        var leaseToken = Guid.NewGuid().ToString("N");
        return _retry.ExecuteAsync((attempt, token) => ClaimOnceAsync(executionId, jobId, leaseToken, leaseDuration, attempt > 0, workflowIdHint, token, io), ct);
    }

    private async Task<ClaimResult> ClaimOnceAsync(long executionId, string jobId, string leaseToken, TimeSpan leaseDuration, bool isRepeat,
        long? workflowIdHint, CancellationToken ct, StoreIo io)
    {
        var now = Now;
        await using var locked = workflowIdHint is { } hinted && ClaimReadyStatement is { } claimReady
            ? await LockAndClaimReadyAsync(executionId, hinted, new Lease(jobId, leaseToken, leaseDuration, now, now), claimReady, ct, io)
                .ConfigureAwait(false)
            : await LockExecutionAsync(executionId, workflowIdHint, ct, withLeaseClock: true, io).ConfigureAwait(false);
        if (locked is not { Transaction: { } tx, Workflow: { } workflow, Execution: { } execution })
        {
            return new ClaimResult(ClaimOutcome.NotFound, $"Step execution {executionId} or its workflow no longer exists.");
        }

        if (execution is { State: "in_progress" } && execution.LeaseToken == leaseToken)
        {
            // Claimed by the round trip that locked the rows (the workflow row was read before it went performing), or by
            // this claim's earlier attempt whose commit acknowledgement was lost.
            if (workflow.WorkflowState == WorkflowState.Ready)
            {
                MarkPerforming(workflow, execution.StepName, now);
            }

            await CommitAsync(tx, "claim", ct, io, inBatch: locked.CommittedInBatch).ConfigureAwait(false);
            return new ClaimResult(ClaimOutcome.Claimed, $"Claimed step execution {execution.Id}.", workflow, execution);
        }

        var connection = locked.Connection;
        var lease = new Lease(jobId, leaseToken, leaseDuration, now, locked.LeaseNow ?? now);
        if (isRepeat && await FindOwnClaimAsync(connection, tx, workflow, leaseToken, ct, io).ConfigureAwait(false) is { } own)
        {
            return new ClaimResult(ClaimOutcome.Claimed, $"Claimed step execution {own.Id}.", workflow, own,
                own.Id == execution.Id ? null : execution.Id);
        }

        var result = execution.ExecutionState switch
        {
            StepExecutionState.Scheduled => await ClaimScheduledAsync(connection, tx, workflow, execution, lease, ct, io).ConfigureAwait(false),
            StepExecutionState.InProgress => await ClaimInProgressAsync(connection, tx, workflow, execution, lease, ct, io).ConfigureAwait(false),
            StepExecutionState.Failed => await ClaimFailedAsync(connection, tx, workflow, execution, lease, ct, io).ConfigureAwait(false),
            StepExecutionState.Canceled when execution.StepOutcome == StepOutcome.Interrupted =>
                await ClaimAfterInterruptionAsync(connection, tx, workflow, execution, lease, ct, io).ConfigureAwait(false),
            _ => new ClaimResult(ClaimOutcome.AlreadyEnded,
                $"Step execution {execution.Id} already {execution.State}; nothing to run.", workflow, execution),
        };
        await CommitAsync(tx, "claim", ct, io).ConfigureAwait(false);
        return result;
    }

    /// <summary>The storage's one-round-trip claim for the lease clock in use; null when the storage has none.</summary>
    /// <remarks>Where the storage commits in a batch (PostgreSQL) the batch ends with the commit: one round trip for the whole claim.</remarks>
    private SqlStatement? ClaimReadyStatement => LeasesOnDatabaseClock
        ? _claimReady ??= Sql.ClaimReadyStepExecution is { } onDatabaseClock ? Committing(onDatabaseClock) : null
        : _claimReadyUntil ??= Sql.ClaimReadyStepExecutionUntil is { } onApplicationClock ? Committing(onApplicationClock) : null;

    private SqlStatement? _claimReady;
    private SqlStatement? _claimReadyUntil;

    /// <summary>
    /// Locks the workflow and then the execution in one round trip, as the hinted <see cref="LockExecutionAsync"/> does, and
    /// in the same round trip claims the execution when it is scheduled and its workflow ready (the common case): the
    /// execution comes back in progress under <paramref name="lease"/>'s token. Otherwise nothing is written and the rows
    /// come back locked for the claim to decide in the same transaction. A hint that does not hold starts over the careful way.
    /// Where the batch also commits (<see cref="StorageStatements.CommitTransaction"/>), a claim it did not make starts over
    /// the careful way too (locking the rows anew), since its transaction has ended; that is the rare case.
    /// </summary>
    private async Task<LockedExecution> LockAndClaimReadyAsync(long executionId, long workflowId, Lease lease, SqlStatement statement,
        CancellationToken ct, StoreIo io)
    {
        var connection = await OpenAsync(ct, io).ConfigureAwait(false);
        try
        {
            var tx = await BeginAsync(connection, ct, io).ConfigureAwait(false);
            var command = Command(statement, new
            {
                WorkflowId = workflowId,
                ExecutionId = executionId,
                JobId = ColumnLimits.JobId(lease.JobId),
                LeaseToken = lease.Token,
                lease.Now,
                LeaseMilliseconds = checked((int)lease.Duration.TotalMilliseconds),
                LeaseExpiresAt = lease.ExpiresAt,
            }, tx, ct);
            WorkflowRecord? workflow = null;
            StepExecutionRecord? execution = null;
            DateTime? databaseNow = null;
            // Result sets in order: the workflow, the execution, the database's time; the updates return none.
            await ReadResultSetsAsync(connection, command, io, async (index, reader) =>
            {
                switch (index)
                {
                    case 0:
                        workflow = await ReadRowAsync<WorkflowRecord>(reader, io, ct).ConfigureAwait(false);
                        break;
                    case 1:
                        execution = await ReadRowAsync<StepExecutionRecord>(reader, io, ct).ConfigureAwait(false);
                        break;
                    default:
                        // A text column on SQLite: the provider parses it.
                        databaseNow = await io.ReadAsync(reader, ct).ConfigureAwait(false) ? reader.GetDateTime(0) : null;
                        break;
                }
            }).ConfigureAwait(false);

            var committed = Sql.CommitTransaction is not null;
            var claimed = execution is { State: "in_progress" } && execution.LeaseToken == lease.Token;
            if (workflow is not null && execution is not null && (claimed || !committed))
            {
                return new LockedExecution(connection, tx, workflow, execution, databaseNow is { } clock ? UtcTimes.ToMillisecond(clock) : lease.Now)
                    { Io = io, CommittedInBatch = committed };
            }

            // The hint did not hold (a hand-made job, or rows gone), or the rows were in another state and the batch's commit
            // ended the transaction; nothing was written: start over the careful way.
            await io.DisposeAsync(tx).ConfigureAwait(false);
            await io.DisposeAsync(connection).ConfigureAwait(false);
            return await LockExecutionAsync(executionId, workflow is not null && execution is not null ? workflowId : null, ct, withLeaseClock: true, io)
                .ConfigureAwait(false);
        }
        catch
        {
            await io.DisposeAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Who is claiming, with which token, for how long; <paramref name="Now"/> stamps the rows, <paramref name="LeaseNow"/>
    /// (the lease clock's time) dates the lease and judges whether another one has run out.
    /// </summary>
    private sealed record Lease(string JobId, string Token, TimeSpan Duration, DateTime Now, DateTime LeaseNow)
    {
        public DateTime ExpiresAt => LeaseNow + Duration;
    }

    private async Task<StepExecutionRecord?> FindOwnClaimAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        string leaseToken, CancellationToken ct, StoreIo io)
    {
        var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
            new { WorkflowId = workflow.Id }, ct, io).ConfigureAwait(false);
        return active is { State: "in_progress" } && active.LeaseToken == leaseToken ? active : null;
    }

    private async Task<ClaimResult> ClaimScheduledAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct, StoreIo io)
    {
        var resumed = false;
        if (workflow.WorkflowState == WorkflowState.Paused)
        {
            if (workflow.PausedByJobId is null || workflow.PausedByJobId != lease.JobId)
            {
                // Kept scheduled so Resume runs it; a stale or duplicate job must never undo a pause.
                return new ClaimResult(ClaimOutcome.WorkflowNotRunnable, workflow.PausedByJobId is null
                        ? $"Workflow {workflow.Id} is paused; step execution {execution.Id} stays scheduled and runs when the workflow is resumed."
                        : $"Workflow {workflow.Id} was paused by job {workflow.PausedByJobId}, not this one; step execution {execution.Id} stays scheduled. Requeue job {workflow.PausedByJobId} or resume the workflow.",
                    workflow, execution);
            }

            // The operator requeued the deleted job that paused this workflow: that means "run it now".
            TransitionWorkflow(workflow, WorkflowState.Ready, lease.Now);
            resumed = true;
        }
        else if (workflow.WorkflowState is not (WorkflowState.Ready or WorkflowState.Performing))
        {
            execution.TransitionTo(StepExecutionState.Canceled, lease.Now);
            execution.Outcome = StepOutcome.Canceled.ToStored();
            await UpdateAsync(connection, tx, execution, ct, io).ConfigureAwait(false);
            return new ClaimResult(ClaimOutcome.WorkflowNotRunnable,
                $"Workflow {workflow.Id} is {workflow.State}; step execution {execution.Id} was canceled instead of run.",
                workflow, execution);
        }

        execution.TransitionTo(StepExecutionState.InProgress, lease.Now);
        TakeLease(execution, lease);
        ColumnLimits.Apply(execution);
        if (workflow.WorkflowState == WorkflowState.Ready)
        {
            // The common claim: both rows change in one round trip, writing only the columns a claim changes.
            MarkPerforming(workflow, execution.StepName, lease.Now);
            await ExecuteAsync(connection, Command(Sql.StartStepExecution, new
            {
                ExecutionId = execution.Id,
                execution.JobId,
                execution.LeaseToken,
                lease.Now,
                execution.LeaseExpiresAt,
                WorkflowId = workflow.Id,
                execution.StepName,
            }, tx, ct), io).ConfigureAwait(false);
        }
        else
        {
            await UpdateAsync(connection, tx, execution, ct, io).ConfigureAwait(false);
            await MarkPerformingAsync(connection, tx, workflow, execution.StepName, lease.Now, ct, io).ConfigureAwait(false);
        }

        return resumed
            ? new ClaimResult(ClaimOutcome.Retried, $"Job {lease.JobId} was requeued after its deletion paused workflow {workflow.Id}; the workflow resumed and step execution {execution.Id} runs.", workflow, execution)
            : new ClaimResult(ClaimOutcome.Claimed, $"Claimed step execution {execution.Id}.", workflow, execution);
    }

    private async Task<ClaimResult> ClaimInProgressAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct, StoreIo io)
    {
        if (execution.LeaseExpiresAt is { } expires && expires > lease.LeaseNow)
        {
            return new ClaimResult(ClaimOutcome.LeaseHeld,
                $"Step execution {execution.Id} is running in job {execution.JobId ?? "?"} under a live lease (until {expires:u}); not run twice.",
                workflow, execution);
        }

        // The worker that held the lease stopped heartbeating: close its attempt so a stale finalize
        // cannot land, then run a fresh attempt under this job's lease.
        CloseAsRecovered(execution, lease.Now);
        await UpdateAsync(connection, tx, execution, ct, io).ConfigureAwait(false);
        if (workflow.WorkflowState != WorkflowState.Performing)
        {
            return new ClaimResult(ClaimOutcome.WorkflowNotRunnable,
                $"Step execution {execution.Id} lost its worker, and workflow {workflow.Id} is {workflow.State}; nothing runs.",
                workflow, execution);
        }

        var attempt = await InsertClaimedAsync(connection, tx, workflow.Id, execution.StepName, lease, Succession.After(execution), ct, io)
            .ConfigureAwait(false);
        return new ClaimResult(ClaimOutcome.TookOver,
            $"Step execution {execution.Id} lost its worker (lease expired); attempt {attempt.Id} takes over.",
            workflow, attempt, execution.Id);
    }

    private async Task<ClaimResult> ClaimFailedAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct, StoreIo io)
    {
        var latestId = await ScalarAsync<long>(connection, tx, Sql.SelectLatestStepExecutionId,
            new { WorkflowId = workflow.Id }, ct, io).ConfigureAwait(false);
        // Only the job whose failure paused the workflow retries it (rows from before PausedByJobId existed: the failed attempt's job).
        var pausedBy = workflow.PausedByJobId ?? execution.JobId;
        var isRetry = workflow.WorkflowState == WorkflowState.Paused &&
                      workflow.NextStepName == execution.StepName &&
                      latestId == execution.Id &&
                      pausedBy == lease.JobId;
        if (!isRetry)
        {
            return new ClaimResult(ClaimOutcome.AlreadyEnded, workflow.WorkflowState == WorkflowState.Paused && latestId == execution.Id
                    ? $"Step execution {execution.Id} already failed, and workflow {workflow.Id} was paused by job {pausedBy ?? "none"}, not this one; requeueing this job runs nothing. Requeue job {pausedBy} or resume the workflow."
                    : $"Step execution {execution.Id} already failed and workflow {workflow.Id} ({workflow.State}) has moved on; requeueing it runs nothing.",
                workflow, execution);
        }

        // An operator requeued the failed job of a workflow paused on this step: resume and retry here.
        TransitionWorkflow(workflow, WorkflowState.Ready, lease.Now);
        var attempt = await InsertClaimedAsync(connection, tx, workflow.Id, execution.StepName, lease, Succession.After(execution), ct, io)
            .ConfigureAwait(false);
        await MarkPerformingAsync(connection, tx, workflow, execution.StepName, lease.Now, ct, io).ConfigureAwait(false);
        return new ClaimResult(ClaimOutcome.Retried,
            $"Retrying failed step execution {execution.Id} as attempt {attempt.Id}; workflow {workflow.Id} resumed.",
            workflow, attempt, execution.Id);
    }

    /// <summary>
    /// The job of an interrupted attempt is delivered again (Hangfire requeues a job its server stopped):
    /// it runs the attempt that the interruption scheduled in its place, which names this job.
    /// </summary>
    private async Task<ClaimResult> ClaimAfterInterruptionAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord interrupted, Lease lease, CancellationToken ct, StoreIo io)
    {
        var successor = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
            new { WorkflowId = workflow.Id }, ct, io).ConfigureAwait(false);
        if (successor is not { State: "scheduled" } || successor.StepName != interrupted.StepName || successor.JobId != lease.JobId)
        {
            return new ClaimResult(ClaimOutcome.AlreadyEnded,
                $"Step execution {interrupted.Id} was interrupted and its step has been handed to another job; nothing to run.", workflow, interrupted);
        }

        var claim = await ClaimScheduledAsync(connection, tx, workflow, successor, lease, ct, io).ConfigureAwait(false);
        return claim.IsClaimed ? claim with { ReplacedExecutionId = interrupted.Id } : claim;
    }

    private async Task MarkPerformingAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow, string stepName,
        DateTime now, CancellationToken ct, StoreIo io)
    {
        MarkPerforming(workflow, stepName, now);
        await UpdateAsync(connection, tx, workflow, ct, io).ConfigureAwait(false);
    }

    /// <summary>The workflow runs <paramref name="stepName"/> (in memory; the caller writes it).</summary>
    private static void MarkPerforming(WorkflowRecord workflow, string stepName, DateTime now)
    {
        if (workflow.WorkflowState != WorkflowState.Performing)
        {
            TransitionWorkflow(workflow, WorkflowState.Performing, now);
        }

        workflow.CurrentStepName = stepName;
        workflow.NextStepName = stepName;
        workflow.UpdatedAt = now;
    }

    private static void TakeLease(StepExecutionRecord execution, Lease lease)
    {
        execution.JobId = lease.JobId;
        execution.LeaseToken = lease.Token;
        execution.HeartbeatAt = lease.Now;
        execution.LeaseExpiresAt = lease.ExpiresAt;
    }

    private async Task<StepExecutionRecord> InsertClaimedAsync(DbConnection connection, DbTransaction tx, long workflowId,
        string stepName, Lease lease, Succession succession, CancellationToken ct, StoreIo io)
    {
        var now = lease.Now;
        var execution = new StepExecutionRecord
        {
            WorkflowId = workflowId,
            StepName = stepName,
            Attempt = succession.Attempt,
            Cursor = succession.Cursor,
            State = StepExecutionState.InProgress.ToStored(),
            ScheduledFor = now,
            StartedAt = now,
            CreatedAt = now,
            UpdatedAt = now,
        };
        TakeLease(execution, lease);
        execution.DispatchedAt = now;
        ColumnLimits.Apply(execution);
        execution.Id = await ScalarAsync<long>(connection, tx, Sql.InsertStepExecution, execution, ct, io).ConfigureAwait(false);
        return execution;
    }
}
