using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// The lease protocol, part 2: while the body runs, heartbeats renew the lease (carrying news back: paused, canceled,
// lease lost) and checkpoints save a resumable step's cursor; finalize records how the run ended and schedules what
// comes next; recovery closes an attempt whose worker stopped renewing its lease.
internal sealed partial class WorkflowStore
{
    // The finalize batch that also schedules the next step, joined once.
    private SqlStatement? _finish;
    private SqlStatement? _finishAndInsert;

    // Statements sent together in one round trip, combined once.
    private SqlStatement? _stateAndNow;

    /// <summary>
    /// Refreshes the lease of an execution this run still holds, and carries news to the run: null when the
    /// lease was renewed, otherwise why the run must stop — its lease was lost, or its workflow was paused or
    /// canceled while the step ran. Not retried here: the heartbeat loop tries again at its next beat, and
    /// must learn of an outage in time to fence.
    /// </summary>
    /// <param name="executionId">The execution the run holds.</param>
    /// <param name="workflowId">Its workflow.</param>
    /// <param name="leaseToken">The run's lease token.</param>
    /// <param name="leaseDuration">How long the renewed lease lasts.</param>
    /// <param name="ct">Cancels the beat.</param>
    /// <param name="cursor">A resumable step's cursor moved past its last checkpoint (JSON), saved with the beat; null for none.</param>
    /// <param name="checkpoints">How many checkpoints the run had saved when it read <paramref name="cursor"/>: the cursor is written only if no checkpoint landed since.</param>
    public async Task<StopNews?> HeartbeatAsync(long executionId, long workflowId, string leaseToken, TimeSpan leaseDuration,
        CancellationToken ct = default, string? cursor = null, int checkpoints = 0)
    {
        var now = Now;
        await InjectAsync("heartbeat").ConfigureAwait(false);
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        // Read on its own, not joined into the update: the update locks the execution row, and reading the
        // workflow row after it would invert the lock order that every transaction keeps. The lease clock's time
        // comes with it in the same round trip.
        string? state;
        var leaseNow = now;
        if (LeasesOnDatabaseClock)
        {
            await using var grid = await connection.QueryMultipleAsync(Command(_stateAndNow ??= Sql.SelectWorkflowState.Then(Sql.SelectDatabaseNow), new { Id = workflowId }, null, ct))
                .ConfigureAwait(false);
            state = await grid.ReadSingleOrDefaultAsync<string?>().ConfigureAwait(false);
            leaseNow = UtcTimes.ToMillisecond(await grid.ReadSingleAsync<DateTime>().ConfigureAwait(false));
        }
        else
        {
            state = await connection.ExecuteScalarAsync<string?>(Command(Sql.SelectWorkflowState, new { Id = workflowId }, null, ct)).ConfigureAwait(false);
        }

        if (state is not null && state != "performing")
        {
            var text = $"workflow {workflowId} was {state} while step execution {executionId} ran";
            if (state != "paused")
            {
                return new StopNews(state == "canceled" ? StepStopReason.Canceled : StepStopReason.LeaseLost, text);
            }

            // A pause caused by deleting this run's own job is the operator's "stop this step".
            var paused = await SingleAsync<WorkflowRecord>(connection, null, Sql.SelectWorkflow, new { Id = workflowId }, ct).ConfigureAwait(false);
            var running = await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = executionId }, ct).ConfigureAwait(false);
            return new StopNews(paused?.PausedByJobId is { } by && by == running?.JobId ? StepStopReason.JobDeleted : StepStopReason.Paused, text);
        }

        var renewed = await connection.ExecuteAsync(Command(Sql.Heartbeat,
            new { Id = executionId, LeaseToken = leaseToken, Now = now, LeaseExpiresAt = leaseNow + leaseDuration, Cursor = cursor, Checkpoints = checkpoints }, null, ct))
            .ConfigureAwait(false) == 1;
        return renewed ? null : new StopNews(StepStopReason.LeaseLost,
            $"step execution {executionId} lost its lease (another run took the step over, or the attempt was closed)");
    }

    /// <summary>
    /// Records how a step run ended and schedules what comes next, in one transaction. Writes nothing when
    /// the lease is no longer this run's; closes the execution as canceled when the workflow was changed
    /// from outside while the step ran. Transient faults are retried for the finalize budget; a repeat after
    /// a commit whose acknowledgement was lost recognises its own result (the execution keeps the run's
    /// lease token) and reports it as applied. <paramref name="io"/> chooses blocking calls for a Hangfire worker thread.
    /// </summary>
    public Task<FinalizeResult> FinalizeAsync(long executionId, string leaseToken, StepCompletion completion,
        CancellationToken ct = default, long? workflowIdHint = null, StoreIo io = default, string? stepNameHint = null) =>
        _finalizeRetry.ExecuteAsync((attempt, token) => FinalizeOnceAsync(executionId, leaseToken, completion, workflowIdHint,
            attempt == 0 ? stepNameHint : null, token, io), ct);

    // stepNameHint: the step that ran, when the caller knows it (with the workflow id): the common finalize is then one round
    // trip where the storage allows it. Not passed to a repeat, which must recognise its own earlier commit.
    private async Task<FinalizeResult> FinalizeOnceAsync(long executionId, string leaseToken, StepCompletion completion,
        long? workflowIdHint, string? stepNameHint, CancellationToken ct, StoreIo io)
    {
        await InjectAsync("finalize.begin").ConfigureAwait(false);
        if (workflowIdHint is { } hinted && stepNameHint is { } stepName &&
            await FinalizeInOneBatchAsync(executionId, leaseToken, completion, hinted, stepName, ct, io).ConfigureAwait(false) is { } done)
        {
            return done;
        }

        await using var locked = await LockExecutionAsync(executionId, workflowIdHint, ct, io: io).ConfigureAwait(false);
        if (locked is not { Transaction: { } tx, Workflow: { } workflow, Execution: { } execution })
        {
            return new FinalizeResult(FinalizeOutcome.NotFound);
        }

        var connection = locked.Connection;
        if (execution.LeaseToken != leaseToken)
        {
            return new FinalizeResult(FinalizeOutcome.LeaseLost, workflow, execution);
        }

        if (execution.ExecutionState != StepExecutionState.InProgress)
        {
            // Ended and still carrying this run's token: this run's own earlier finalize committed.
            var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.SelectActiveStepExecution,
                new { WorkflowId = workflow.Id }, ct, io).ConfigureAwait(false);
            return new FinalizeResult(execution.StepOutcome == StepOutcome.Canceled && completion.Outcome != StepOutcome.Canceled
                    ? FinalizeOutcome.WorkflowChangedOutside
                    : FinalizeOutcome.Applied,
                workflow, execution, active is { State: "scheduled", JobId: null } ? active : null);
        }

        var now = Now;
        if (completion.UnsavedCursor is { } unsaved)
        {
            // The items the run finished after its last checkpoint stay done, however the attempt ended.
            await ExecuteAsync(connection, Command(Sql.Checkpoint,
                new { Id = execution.Id, LeaseToken = leaseToken, Cursor = unsaved.Json, Now = now }, tx, ct), io).ConfigureAwait(false);
            execution.Cursor = unsaved.Json;
        }

        string? appliedInstead = null;
        if (completion.TimedOut is { } expired && workflow.WorkflowState == WorkflowState.Performing && completion.ConsumeEventId is null &&
            (expired.Children is { } children
                ? children.Judge(await CountChildrenAsync(connection, tx, workflow.Id, children.Group, ct, io).ConfigureAwait(false)).Kind != ChildrenVerdictKind.NotYet
                : await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectUnconsumedEvent, new { WorkflowId = workflow.Id, Name = expired.EventName }, ct, io)
                    .ConfigureAwait(false) is not null))
        {
            // The event came after the run looked and before this lock: it is not lost, and the timeout does not apply.
            // The step runs again now, with its gate, and takes the event.
            appliedInstead = expired.Children is { } decided
                ? $"The children of '{decided.Group}' decided the wait while its timeout was being applied; the timeout does not apply, and the step runs again now"
                : $"The '{expired.EventName}' event came while its timeout was being applied; the timeout does not apply, and the step runs again now to take it";
            completion = new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Rescheduled,
                WorkflowState = WorkflowState.Ready,
                NextStepName = execution.StepName,
                Schedule = new NextStep(execution.StepName, TimeSpan.Zero, expired with { Until = now }),
                Reason = appliedInstead,
                RanAs = completion.RanAs,
            };
        }

        ApplyError(execution, completion);
        if (workflow.WorkflowState != WorkflowState.Performing)
        {
            execution.TransitionTo(StepExecutionState.Canceled, now);
            execution.Outcome = StepOutcome.Canceled.ToStored();
            execution.LeaseToken = leaseToken;
            await UpdateAsync(connection, tx, execution, ct, io).ConfigureAwait(false);
            await CommitAsync(tx, "finalize", ct, io).ConfigureAwait(false);
            return new FinalizeResult(FinalizeOutcome.WorkflowChangedOutside, workflow, execution);
        }

        execution.TransitionTo(completion.ExecutionState, now);
        execution.Outcome = completion.Outcome.ToStored();
        execution.Metadata = execution.WaitingFor is null || completion.Metadata is null
            ? completion.Metadata ?? execution.Metadata
            : StepExecutionMetadata.Parse(execution.Metadata).Overlay(completion.Metadata).ToJson();
        if (completion.ConsumeEventId is { } eventId)
        {
            await io.ExecuteAsync(connection, Command(Sql.ConsumeEvent, new { Id = eventId, Now = now, ExecutionId = execution.Id }, tx, ct))
                .ConfigureAwait(false);
        }
        // The token stays on the closed row: it tells a repeat of this finalize that the result is its own.
        execution.LeaseToken = leaseToken;
        ColumnLimits.Apply(execution);

        TransitionWorkflow(workflow, completion.WorkflowState, now);
        workflow.CurrentStepName = null;
        workflow.NextStepName = completion.WorkflowState == WorkflowState.Finished ? null : completion.NextStepName;
        if (completion.WorkflowState == WorkflowState.Paused && completion.ExecutionState == StepExecutionState.Failed)
        {
            // Requeueing the job that failed is the operator's "retry this step now".
            workflow.PausedByJobId = execution.JobId;
        }

        if (completion.WorkflowState is WorkflowState.Paused or WorkflowState.Canceled)
        {
            workflow.StateReason = $"Step '{execution.StepName}' (step execution {execution.Id}, job {execution.JobId ?? "none"}): {completion.Reason ?? completion.Outcome.ToStored()}";
        }

        FitColumns(workflow);
        // A child that ends or pauses tells its waiting parent in this transaction (the parent's row is locked after this one's).
        var woken = workflow.ParentWorkflowId is null ? null : await NotifyParentAsync(connection, tx, workflow, now, ct, io).ConfigureAwait(false);

        // Both rows and the next step's execution are written in one round trip, only the columns a finalize changes.
        StepExecutionRecord? next = null;
        if (completion.Schedule is { } schedule && completion.WorkflowState == WorkflowState.Ready)
        {
            next = await PrepareScheduledAsync(connection, tx, workflow.Id, schedule.Name, now + schedule.Wait, now, ct,
                completion.HandOverToJobId,
                schedule.Name == execution.StepName || schedule.Name == completion.RanAs
                    ? Succession.After(execution, completion.RewindCursor)
                    : Succession.First,
                Armed(schedule.Gate, now + schedule.Wait), io).ConfigureAwait(false);
        }

        // The commit goes in the same batch where the storage allows it (PostgreSQL): one round trip for the writes and the commit.
        var finish = new FinishParameters(execution, workflow, now, next);
        if (next is null)
        {
            await ExecuteAsync(connection, Command(_finish ??= Committing(Sql.FinishStepExecution), finish, tx, ct), io).ConfigureAwait(false);
        }
        else
        {
            next.Id = await ReadInsertedIdAsync(connection,
                Command(_finishAndInsert ??= Committing(Sql.FinishStepExecution.Then(Sql.InsertStepExecution)), finish, tx, ct), io).ConfigureAwait(false);
        }

        await CommitAsync(tx, "finalize", ct, io, inBatch: Sql.CommitTransaction is not null).ConfigureAwait(false);
        return new FinalizeResult(FinalizeOutcome.Applied, workflow, execution, next) { AppliedInstead = appliedInstead, WokenParent = woken };
    }

    /// <summary>
    /// Saves a resumable step's cursor (JSON) in its in-progress execution, fenced by the lease token: a run
    /// whose lease was taken over, or whose attempt was closed, is refused (false) and must stop. Transient
    /// faults are retried; a repeat after a lost acknowledgement finds the cursor already saved under its lease and
    /// counts the checkpoint once.
    /// </summary>
    public Task<bool> CheckpointAsync(long executionId, string leaseToken, string? cursor, CancellationToken ct = default) =>
        _retry.ExecuteAsync(async (attempt, token) =>
        {
            await InjectAsync("checkpoint").ConfigureAwait(false);
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            if (attempt > 0 &&
                await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = executionId }, token).ConfigureAwait(false)
                    is { State: "in_progress" } saved && saved.LeaseToken == leaseToken && saved.Cursor == cursor)
            {
                // A repeat after a lost acknowledgement: the cursor is already saved under this lease; count it once.
                return true;
            }

            var saves = await connection.ExecuteAsync(Command(Sql.Checkpoint,
                new { Id = executionId, LeaseToken = leaseToken, Cursor = cursor, Now }, null, token)).ConfigureAwait(false) == 1;
            await InjectAsync("checkpoint.committed").ConfigureAwait(false);
            return saves;
        }, ct);

    /// <summary>
    /// Recovers an in-progress execution whose lease expired: closes it as recovered, then either
    /// schedules the step again now (<paramref name="reattempt"/>) or cancels the workflow. Null when
    /// the lease is live again or the execution already ended.
    /// </summary>
    public Task<ControlResult?> RecoverExpiredLeaseAsync(long executionId, bool reattempt, CancellationToken ct = default,
        long? workflowIdHint = null) =>
        RecoverExpiredLeaseAsync(executionId, reattempt, Guid.NewGuid().ToString("N"), workflowIdHint, ct);

    private Task<ControlResult?> RecoverExpiredLeaseAsync(long executionId, bool reattempt, string recoveryToken, long? workflowIdHint,
        CancellationToken ct) =>
        RetryAsync(token => RecoverExpiredLeaseOnceAsync(executionId, reattempt, recoveryToken, workflowIdHint, token), ct);

    /// <remarks>
    /// The closed execution keeps <paramref name="recoveryToken"/> as its lease token (a token no run holds, so the
    /// abandoned run's late finalize finds its lease gone): a repeat after a lost commit acknowledgement recognises its
    /// own recovery by it and returns what it scheduled, instead of reporting "nothing to recover".
    /// </remarks>
    private async Task<ControlResult?> RecoverExpiredLeaseOnceAsync(long executionId, bool reattempt, string recoveryToken, long? workflowIdHint,
        CancellationToken ct)
    {
        await using var locked = await LockExecutionAsync(executionId, workflowIdHint, ct, withLeaseClock: true).ConfigureAwait(false);
        var now = Now;
        if (locked is { Transaction: { } ownTx, Workflow: { } recovered, Execution: { LeaseToken: { } closedToken, State: not "in_progress" } } &&
            closedToken == recoveryToken)
        {
            var scheduled = await SingleAsync<StepExecutionRecord>(locked.Connection, ownTx, Sql.SelectActiveStepExecution,
                new { WorkflowId = recovered.Id }, ct).ConfigureAwait(false);
            return new ControlResult(recovered, scheduled is { State: "scheduled" } ? scheduled : null);
        }

        if (locked is not { Transaction: { } tx, Workflow: { } workflow, Execution: { } execution } ||
            execution.ExecutionState != StepExecutionState.InProgress || execution.LeaseExpiresAt > (locked.LeaseNow ?? now))
        {
            return null;
        }

        var connection = locked.Connection;
        CloseAsRecovered(execution, now);
        execution.LeaseToken = recoveryToken;
        await UpdateAsync(connection, tx, execution, ct).ConfigureAwait(false);
        StepExecutionRecord? next = null;
        if (workflow.WorkflowState == WorkflowState.Performing)
        {
            workflow.CurrentStepName = null;
            if (reattempt)
            {
                TransitionWorkflow(workflow, WorkflowState.Ready, now);
                workflow.NextStepName = execution.StepName;
                next = await InsertScheduledAsync(connection, tx, workflow.Id, execution.StepName, now, now, ct, null, Succession.After(execution))
                    .ConfigureAwait(false);
            }
            else
            {
                TransitionWorkflow(workflow, WorkflowState.Canceled, now);
                workflow.StateReason = $"Step '{execution.StepName}' (step execution {execution.Id}) lost its worker, and StuckRecoveryAction is Cancel.";
            }

            await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
        }

        var woken = await NotifyParentAsync(connection, tx, workflow, now, ct).ConfigureAwait(false);
        await CommitAsync(tx, "recover", ct).ConfigureAwait(false);
        return new ControlResult(workflow, next) { WokenParent = woken };
    }

    private static void CloseAsRecovered(StepExecutionRecord execution, DateTime now)
    {
        // TransitionTo clears the token: the abandoned run's late finalize finds the lease gone, not its own result.
        execution.TransitionTo(StepExecutionState.Failed, now);
        execution.Outcome = StepOutcome.Recovered.ToStored();
        execution.ErrorClassName ??= "GenevaDrive.LeaseExpired";
        execution.ErrorMessage ??= $"The worker running this attempt stopped renewing its lease (last heartbeat {execution.HeartbeatAt:u}); the attempt was abandoned and recovered.";
    }

    private static void ApplyError(StepExecutionRecord execution, StepCompletion completion)
    {
        execution.ErrorClassName = completion.ErrorClassName ?? execution.ErrorClassName;
        execution.ErrorMessage = completion.ErrorMessage ?? execution.ErrorMessage;
        execution.ErrorBacktrace = completion.ErrorBacktrace ?? execution.ErrorBacktrace;
    }
}
