using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// Write commands from code and the dashboard: start, record a job id, pause, resume, cancel, skip and jump (each
// exactly once under retries, through ExactlyOnceAsync).
internal sealed partial class WorkflowStore
{
    private const string StartSavepoint = "genevadrive_start";

    /// <summary>Creates the workflow and its first execution in one transaction.</summary>
    /// <exception cref="WorkflowAlreadyExistsException">An ongoing single-instance workflow exists for the hero.</exception>
    public Task<CreatedWorkflow> CreateAsync(NewWorkflow spec, CancellationToken ct = default) =>
        ExactlyOnceAsync("start", 0, async (connection, tx, operation, token) =>
        {
            CreatedWorkflow created;
            try
            {
                created = await InsertWorkflowAsync(connection, tx, spec, token, operation).ConfigureAwait(false);
            }
            catch (Exception e) when (_dialect.IsUniqueViolation(e))
            {
                await tx.RollbackAsync(token).ConfigureAwait(false);
                throw await AlreadyExistsAsync(connection, null, spec, e, token).ConfigureAwait(false);
            }

            operation.WorkflowId = created.Workflow.Id;
            operation.ExecutionId = created.FirstExecution?.Id;
            return created;
        }, async (connection, operation, token) => new CreatedWorkflow(
            await SingleAsync<WorkflowRecord>(connection, null, Sql.SelectWorkflow, new { Id = operation.WorkflowId }, token).ConfigureAwait(false)
                ?? throw new WorkflowNotFoundException(operation.WorkflowId),
            operation.ExecutionId is { } first
                ? await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = first }, token).ConfigureAwait(false)
                : null), ct);

    /// <summary>
    /// Creates the workflow inside the caller's open connection and transaction, so it commits (or rolls
    /// back) with the caller's own data. A conflict rolls back to a savepoint, leaving the caller's
    /// transaction usable. Without a transaction, a local one keeps the two inserts atomic.
    /// </summary>
    public async Task<CreatedWorkflow> CreateAsync(NewWorkflow spec, DbConnection connection, DbTransaction? transaction,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (transaction is null)
        {
            await using var local = await BeginAsync(connection, ct).ConfigureAwait(false);
            try
            {
                var created = await InsertWorkflowAsync(connection, local, spec, ct).ConfigureAwait(false);
                await local.CommitAsync(ct).ConfigureAwait(false);
                return created;
            }
            catch (Exception e) when (_dialect.IsUniqueViolation(e))
            {
                await local.RollbackAsync(ct).ConfigureAwait(false);
                throw await AlreadyExistsAsync(connection, null, spec, e, ct).ConfigureAwait(false);
            }
        }

        await transaction.SaveAsync(StartSavepoint, ct).ConfigureAwait(false);
        try
        {
            return await InsertWorkflowAsync(connection, transaction, spec, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (_dialect.IsUniqueViolation(e))
        {
            try
            {
                await transaction.RollbackAsync(StartSavepoint, ct).ConfigureAwait(false);
            }
            catch (Exception rollback) when (rollback is DbException or InvalidOperationException)
            {
                // The database aborted the caller's whole transaction on the conflict (SQL Server does so under
                // SET XACT_ABORT ON): there is no savepoint to return to, and the caller's own work is gone too.
                throw new InvalidOperationException(
                    $"Starting workflow '{spec.Type}' for {spec.HeroType} '{EchoedValue.Of(spec.HeroId)}' conflicted with an ongoing one, and {_dialect.Name} " +
                    "aborted the caller's transaction because of the error (on SQL Server: SET XACT_ABORT ON), so everything written in it is rolled back. " +
                    "Roll back and retry without the conflict, check for an ongoing workflow first, or turn XACT_ABORT off for this transaction.",
                    new WorkflowAlreadyExistsException(spec.Type, spec.HeroType, spec.HeroId, null, e));
            }

            throw await AlreadyExistsAsync(connection, transaction, spec, e, ct).ConfigureAwait(false);
        }
    }

    /// <param name="connection">The open connection.</param>
    /// <param name="tx">Its transaction.</param>
    /// <param name="spec">The workflow.</param>
    /// <param name="ct">Cancels it.</param>
    /// <param name="operation">
    /// The start's operation row, when the start is a command of its own: where the storage allows it, the workflow, its first
    /// execution and this row are written by one statement, which also commits when the storage commits in a batch.
    /// </param>
    private async Task<CreatedWorkflow> InsertWorkflowAsync(DbConnection connection, DbTransaction tx, NewWorkflow spec,
        CancellationToken ct, OperationRecord? operation = null)
    {
        var now = Now;
        var hasSteps = spec.FirstStepName is not null;
        var workflow = new WorkflowRecord
        {
            Type = spec.Type,
            HeroType = spec.HeroType,
            HeroId = spec.HeroId,
            AllowMultiple = spec.AllowMultiple,
            State = (hasSteps ? WorkflowState.Ready : WorkflowState.Finished).ToStored(),
            NextStepName = spec.FirstStepName,
            CreatedAt = now,
            UpdatedAt = now,
            StartedAt = now,
            TransitionedAt = hasSteps ? null : now,
            TraceParent = spec.TraceParent,
            ParentWorkflowId = spec.ParentWorkflowId,
            ParentStepName = spec.ParentStepName,
        };
        var scheduledFor = now + (spec.FirstStepWait ?? TimeSpan.Zero);
        if (hasSteps && operation is not null && Sql.StartWorkflow is { } startWorkflow)
        {
            return await StartInOneStatementAsync(connection, tx, workflow, scheduledFor, Armed(spec.FirstStepGate, scheduledFor), operation,
                _startWorkflow ??= Committing(startWorkflow), ct).ConfigureAwait(false);
        }

        workflow.Id = await ScalarAsync<long>(connection, tx, Sql.InsertWorkflow, workflow, ct).ConfigureAwait(false);
        if (!hasSteps)
        {
            return new CreatedWorkflow(workflow, null);
        }

        var execution = await InsertScheduledAsync(connection, tx, workflow.Id, spec.FirstStepName!, scheduledFor, now, ct,
            gate: Armed(spec.FirstStepGate, scheduledFor)).ConfigureAwait(false);
        if (operation is not null)
        {
            await InjectAsync("start.written").ConfigureAwait(false);
        }

        return new CreatedWorkflow(workflow, execution);
    }

    private SqlStatement? _startWorkflow;

    /// <summary>
    /// The workflow, its first execution and the start's operation row in one statement (and the commit with it where the
    /// storage commits in a batch): one round trip for the whole start.
    /// </summary>
    private async Task<CreatedWorkflow> StartInOneStatementAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        DateTime scheduledFor, WaitGate? gate, OperationRecord operation, SqlStatement statement, CancellationToken ct)
    {
        // A new workflow has no events yet: its first gate cannot have been met, so nothing is looked up.
        var execution = await PrepareScheduledAsync(connection, tx, workflow.Id, workflow.NextStepName!, scheduledFor, workflow.CreatedAt, ct, null, null,
            gate, lookUpEvent: false).ConfigureAwait(false);
        FitColumns(workflow);
        operation.WrittenByCommand = true;
        operation.CommittedByCommand = Sql.CommitTransaction is not null;
        var ids = await SingleAsync<StartedIds>(connection, tx, statement, new
        {
            workflow.Type,
            workflow.HeroType,
            workflow.HeroId,
            workflow.AllowMultiple,
            workflow.TraceParent,
            workflow.CreatedAt,
            StepName = execution.StepName,
            execution.ScheduledFor,
            execution.Metadata,
            execution.WaitingFor,
            execution.WaitUntil,
            operation.OperationId,
            operation.Command,
        }, ct).ConfigureAwait(false) ?? throw new InvalidOperationException("The start statement returned no row.");
        workflow.Id = ids.WorkflowId;
        execution.WorkflowId = ids.WorkflowId;
        execution.Id = ids.Id;
        operation.WorkflowId = ids.WorkflowId;
        operation.ExecutionId = ids.Id;
        await InjectAsync("start.written").ConfigureAwait(false);
        return new CreatedWorkflow(workflow, execution);
    }

    /// <summary>What <see cref="StorageStatements.StartWorkflow"/> returns.</summary>
    private sealed class StartedIds
    {
        public long WorkflowId { get; set; }

        public long Id { get; set; }
    }

    private async Task<WorkflowAlreadyExistsException> AlreadyExistsAsync(DbConnection connection, DbTransaction? tx,
        NewWorkflow spec, Exception cause, CancellationToken ct)
    {
        var existing = await connection.ExecuteScalarAsync<long?>(Command(Sql.SelectOngoingWorkflowId,
            new { spec.Type, spec.HeroType, spec.HeroId }, tx, ct)).ConfigureAwait(false);
        return new WorkflowAlreadyExistsException(spec.Type, spec.HeroType, spec.HeroId, existing, cause);
    }

    /// <summary>Moves every workflow stored under the hero type name <paramref name="oldName"/> to <paramref name="newName"/>.</summary>
    public Task<int> RenameHeroTypeAsync(string oldName, string newName, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteAsync(Command(Sql.RenameHeroType, new { OldName = oldName, NewName = newName }, null, token))
                .ConfigureAwait(false);
        }, ct);

    /// <summary>Pauses a ready workflow; its scheduled execution is kept so Resume runs it.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="ct">Cancels the operation.</param>
    /// <param name="pausedByJobId">The deleted step job that caused the pause; requeueing it resumes the workflow.</param>
    /// <param name="caller">The caller's transaction to join, or null for one of the store's own.</param>
    /// <param name="actor">Who asked (an operator named by the dashboard), for the workflow's reason; null for code.</param>
    public Task<ControlResult> PauseAsync(long workflowId, CancellationToken ct = default, string? pausedByJobId = null, CallerTransaction? caller = null,
        string? actor = null) =>
        UnderWorkflowLockAsync("pause", workflowId, async (connection, tx, workflow, now) =>
        {
            if (workflow.WorkflowState is not (WorkflowState.Ready or WorkflowState.Performing))
            {
                throw new InvalidWorkflowStateException($"Cannot pause a {workflow.State} workflow (workflow {workflow.Id}); only a ready or performing workflow can be paused.");
            }

            var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
                new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
            var running = workflow.WorkflowState == WorkflowState.Performing;
            TransitionWorkflow(workflow, WorkflowState.Paused, now);
            workflow.PausedByJobId = pausedByJobId;
            workflow.StateReason = running && pausedByJobId is not null
                ? $"Step job {pausedByJobId} of step '{active?.StepName}' was deleted while it ran: the step was stopped (its token fired), and it runs again only when the workflow is resumed."
                : running
                ? $"Paused {(actor is null ? "through IWorkflowClient.PauseAsync" : "by " + actor)} while step '{active?.StepName}' ran: its token fires at its next heartbeat, the attempt is closed when it returns, and Resume runs the step again."
                : pausedByJobId is null
                ? actor is null ? "Paused through IWorkflowClient.PauseAsync (from code)." : $"Paused by {actor}."
                : $"Step job {pausedByJobId} of step '{active?.StepName ?? workflow.NextStepName}' was deleted; resume the workflow, or requeue that job, to run the step.";
            workflow.NextStepName = active?.StepName ?? workflow.NextStepName;
            await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
            return new ControlResult(workflow, active) { WokenParent = await NotifyParentAsync(connection, tx, workflow, now, ct).ConfigureAwait(false) };
        }, ct, caller);

    /// <summary>
    /// Resumes a paused workflow: re-uses its still-scheduled execution, or schedules its next step now.
    /// A paused workflow with nothing left to run finishes.
    /// </summary>
    public Task<ControlResult> ResumeAsync(long workflowId, CancellationToken ct = default, CallerTransaction? caller = null, string? actor = null) =>
        UnderWorkflowLockAsync("resume", workflowId, async (connection, tx, workflow, now) =>
        {
            if (workflow.WorkflowState != WorkflowState.Paused)
            {
                throw new InvalidWorkflowStateException($"Cannot resume a {workflow.State} workflow (workflow {workflow.Id}); only a paused workflow can be resumed.");
            }

            var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
                new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
            if (active is { State: "in_progress" })
            {
                throw new InvalidWorkflowStateException(
                    $"Cannot resume workflow {workflow.Id} yet: step '{active.StepName}', paused while it ran, has not stopped (step execution {active.Id}). " +
                    "Its token fires within one heartbeat interval (a fifth of LeaseTimeout); resume once it has returned.");
            }

            TransitionWorkflow(workflow, WorkflowState.Ready, now);
            if (active is null && workflow.NextStepName is { } next)
            {
                var previous = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.SelectLatestStepExecutionOfStep,
                    new { WorkflowId = workflow.Id, StepName = next }, ct).ConfigureAwait(false);
                active = await InsertScheduledAsync(connection, tx, workflow.Id, next, now, now, ct, null,
                    previous is null ? Succession.First : Succession.After(previous)).ConfigureAwait(false);
            }
            else if (active is null)
            {
                TransitionWorkflow(workflow, WorkflowState.Finished, now);
            }

            if (actor is not null)
            {
                workflow.StateReason = $"Resumed by {actor}.";
            }

            await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
            return new ControlResult(workflow, active);
        }, ct, caller);

    /// <summary>Cancels a ready or paused workflow and its scheduled execution.</summary>
    public Task<ControlResult> CancelAsync(long workflowId, CancellationToken ct = default, CallerTransaction? caller = null, string? actor = null) =>
        UnderWorkflowLockAsync("cancel", workflowId, async (connection, tx, workflow, now) =>
        {
            if (workflow.WorkflowState is not (WorkflowState.Ready or WorkflowState.Paused or WorkflowState.Performing))
            {
                throw new InvalidWorkflowStateException($"Cannot cancel a {workflow.State} workflow (workflow {workflow.Id}); it has already ended.");
            }

            var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
                new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
            if (active is { State: "in_progress" })
            {
                // The running attempt keeps its row until its body returns: its heartbeat sees the cancel and fires
                // its token, and its finalize closes it as canceled without advancing the workflow.
                active = null;
            }

            if (active is not null)
            {
                active.TransitionTo(StepExecutionState.Canceled, now);
                active.Outcome = StepOutcome.Canceled.ToStored();
                await UpdateAsync(connection, tx, active, ct).ConfigureAwait(false);
            }

            TransitionWorkflow(workflow, WorkflowState.Canceled, now);
            workflow.CurrentStepName = null;
            workflow.StateReason = actor is null ? "Canceled through IWorkflowClient.CancelAsync (from code)." : $"Canceled by {actor}.";
            await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
            return new ControlResult(workflow, null, active) { WokenParent = await NotifyParentAsync(connection, tx, workflow, now, ct).ConfigureAwait(false) };
        }, ct, caller);

    /// <summary>
    /// Skips the current step of a ready or paused workflow and schedules the next one (as
    /// <paramref name="nextAfter"/> says), finishing the workflow after the last step.
    /// </summary>
    public Task<ControlResult> SkipAsync(long workflowId, Func<string, NextStep?> nextAfter, CancellationToken ct = default, CallerTransaction? caller = null) =>
        SkipAsync(workflowId, (_, step) => nextAfter(step), ct, caller);

    /// <summary>
    /// Skips the current step of a ready or paused workflow (the locked row is handed to <paramref name="nextAfter"/>,
    /// which names the step that follows, or null to finish the workflow, or throws to refuse and change nothing), or
    /// jumps it to the step <paramref name="nextAfter"/> names (<paramref name="jump"/>). The history records it: the
    /// skipped execution and the new one carry who did it and what (<paramref name="actor"/>; null for code).
    /// </summary>
    public Task<ControlResult> SkipAsync(long workflowId, Func<WorkflowRecord, string, NextStep?> nextAfter, CancellationToken ct,
        CallerTransaction? caller, string? actor = null, bool jump = false) =>
        UnderWorkflowLockAsync(jump ? "jump" : "skip", workflowId, async (connection, tx, workflow, now) =>
        {
            var verb = jump ? "jump" : "skip a step of";
            if (workflow.WorkflowState is not (WorkflowState.Ready or WorkflowState.Paused))
            {
                throw new InvalidWorkflowStateException($"Cannot {verb} a {workflow.State} workflow (workflow {workflow.Id}); only ready or paused workflows can {(jump ? "jump" : "skip")}.");
            }

            var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
                new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
            var skipped = active?.StepName ?? workflow.NextStepName;
            // Decided before anything changes: a refusal (a step this build cannot place) leaves the workflow as it was.
            var next = skipped is null && !jump ? null : nextAfter(workflow, skipped ?? string.Empty);
            var who = actor ?? "code";
            var what = jump ? $"jumped from '{skipped}' to '{next?.Name}'" : $"skipped '{skipped}'";
            if (active is not null)
            {
                active.TransitionTo(StepExecutionState.Skipped, now);
                active.Outcome = StepOutcome.Skipped.ToStored();
                active.Metadata = WithOperator(active.Metadata, $"{who} {what}");
                await UpdateAsync(connection, tx, active, ct).ConfigureAwait(false);
            }

            if (workflow.WorkflowState == WorkflowState.Paused)
            {
                TransitionWorkflow(workflow, WorkflowState.Ready, now);
            }

            StepExecutionRecord? scheduled = null;
            if (next is null)
            {
                TransitionWorkflow(workflow, WorkflowState.Finished, now);
                workflow.NextStepName = null;
                workflow.StateReason = $"Finished: {who} {what}, its last step.";
            }
            else
            {
                workflow.NextStepName = next.Name;
                workflow.StateReason = $"{char.ToUpperInvariant(who[0])}{who[1..]} {what}" + (jump ? "." : $"; next step '{next.Name}'.");
                scheduled = await InsertScheduledAsync(connection, tx, workflow.Id, next.Name, now + next.Wait, now, ct,
                    gate: Armed(next.Gate, now + next.Wait), operatorNote: $"{who} {what}").ConfigureAwait(false);
            }

            FitColumns(workflow);
            await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
            return new ControlResult(workflow, scheduled, active) { WokenParent = await NotifyParentAsync(connection, tx, workflow, now, ct).ConfigureAwait(false) };
        }, ct, caller);

    private static string? WithOperator(string? metadata, string note)
    {
        var parsed = StepExecutionMetadata.Parse(metadata);
        parsed.Operator = ColumnLimits.Fit(note, 400);
        return parsed.ToJson();
    }
}
