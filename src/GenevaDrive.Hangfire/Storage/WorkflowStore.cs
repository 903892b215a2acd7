using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;

namespace GenevaDrive.Storage;

/// <summary>
/// The workflow tables, shared by every database. Each operation that must be atomic is one short
/// transaction that locks the workflow row first and the step execution row second (always in that
/// order, so two transactions never wait on each other in opposite orders), checks the state machines,
/// and writes both rows. User code never runs inside these transactions.
/// </summary>
internal sealed class WorkflowStore
{
    private const string StartSavepoint = "genevadrive_start";

    private readonly SqlDialect _dialect;
    private readonly TimeProvider _time;
    private readonly TransientRetry _retry;
    private readonly TransientRetry _finalizeRetry;

    /// <param name="dialect">The database.</param>
    /// <param name="time">The clock for stored times.</param>
    /// <param name="transientBudget">How long a transaction is retried after transient faults (default 30 s).</param>
    /// <param name="finalizeBudget">
    /// The same for finalize, which must try harder: giving up means a body that succeeded runs again
    /// (default 30 s; the runtime passes at least half the lease).
    /// </param>
    /// <param name="logger">Where retries are logged.</param>
    /// <param name="leasesOnDatabaseClock">
    /// True (the runtime's default) to take every lease time from the database's clock, so processes whose clocks disagree
    /// still agree on when a lease runs out; false to take them from <paramref name="time"/> (the test host, whose fake
    /// clock moves leases too).
    /// </param>
    public WorkflowStore(SqlDialect dialect, TimeProvider time, TimeSpan? transientBudget = null, TimeSpan? finalizeBudget = null,
        Microsoft.Extensions.Logging.ILogger? logger = null, bool leasesOnDatabaseClock = false)
    {
        _dialect = dialect;
        _time = time;
        LeasesOnDatabaseClock = leasesOnDatabaseClock;
        _retry = new TransientRetry(dialect.IsTransient, transientBudget ?? TimeSpan.FromSeconds(30), logger);
        _finalizeRetry = new TransientRetry(dialect.IsTransient, finalizeBudget ?? transientBudget ?? TimeSpan.FromSeconds(30), logger);
    }

    /// <summary>
    /// Test seam for fault injection: called at named points — "claim.committed", "finalize.committed" (right
    /// after the commit, where a lost acknowledgement hurts most) and "heartbeat" (before the update) — so a
    /// test can throw a transient fault exactly there. Null in production.
    /// </summary>
    internal Func<string, Task>? Faults { get; set; }

    private Task InjectAsync(string point) => Faults is { } faults ? faults(point) : Task.CompletedTask;

    private async Task CommitAsync(DbTransaction tx, string operation, CancellationToken ct)
    {
        if (t_blocking)
        {
            tx.Commit();
        }
        else
        {
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }

        await InjectAsync(operation + ".committed").ConfigureAwait(false);
    }

    [ThreadStatic]
    private static bool t_blocking;

    /// <summary>
    /// Runs a store operation for a caller that blocks on it anyway (a Hangfire worker thread in the step job filter,
    /// whose interface is synchronous). On this thread the claim and finalize path then uses the provider's synchronous
    /// I/O: the operation completes on the worker thread itself instead of waking it from a pool thread after every
    /// round trip. The logic is the same either way; a retry after a transient fault continues asynchronously.
    /// </summary>
    internal static T Blocking<T>(Func<Task<T>> operation)
    {
        var previous = t_blocking;
        t_blocking = true;
        try
        {
            return operation().GetAwaiter().GetResult();
        }
        finally
        {
            t_blocking = previous;
        }
    }

    private static async Task<int> ExecuteAsync(DbConnection connection, CommandDefinition command) =>
        t_blocking ? connection.Execute(command) : await connection.ExecuteAsync(command).ConfigureAwait(false);

    private Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken ct) =>
        _retry.ExecuteAsync((_, token) => operation(token), ct);

    /// <summary>
    /// Test seam: sees every statement with the transaction it runs in (null outside one), so tests can
    /// check the lock order of each transaction on every database. Null in production.
    /// </summary>
    internal Action<DbTransaction?, string>? Statements { get; set; }

    /// <summary>Begins a transaction (announced to <see cref="Statements"/> as "BEGIN").</summary>
    private async Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken ct)
    {
        var tx = await _dialect.BeginTransactionAsync(connection, ct).ConfigureAwait(false);
        Statements?.Invoke(tx, "BEGIN");
        return tx;
    }

    /// <summary>
    /// Every command of the store is made here: the dialect types the parameters (e.g. <c>datetime2</c> and
    /// <c>varchar</c> on SQL Server) and the storage's command timeout applies.
    /// </summary>
    private CommandDefinition Command(string sql, object? parameters, DbTransaction? tx, CancellationToken ct)
    {
        Statements?.Invoke(tx, sql);
        return new CommandDefinition(sql, parameters is null ? null : _dialect.Bind(parameters), tx, _dialect.CommandTimeoutSeconds,
            cancellationToken: ct);
    }

    public SqlDialect Dialect => _dialect;

    private StorageStatements Sql => _dialect.Sql;

    // The finalize batch that also schedules the next step, joined once.
    private string? _finishAndInsert;

    private DateTime Now => UtcTimes.Now(_time);

    /// <summary>Whether lease times come from the database's clock (see the constructor).</summary>
    public bool LeasesOnDatabaseClock { get; }

    /// <summary>The clock of leases: the database's (one query), or the application's.</summary>
    private async Task<DateTime> LeaseNowAsync(DbConnection connection, DbTransaction? tx, CancellationToken ct) =>
        LeasesOnDatabaseClock
            ? Truncated(await connection.ExecuteScalarAsync<DateTime>(Command(Sql.SelectDatabaseNow, null, tx, ct)).ConfigureAwait(false))
            : Now;

    private static DateTime Truncated(DateTime value)
    {
        var utc = UtcTimes.AsUtc(value);
        return new DateTime(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);
    }

    // ---- Starting ----------------------------------------------------------------------------------

    /// <summary>Creates the workflow and its first execution in one transaction.</summary>
    /// <exception cref="WorkflowAlreadyExistsException">An ongoing single-instance workflow exists for the hero.</exception>
    public Task<CreatedWorkflow> CreateAsync(NewWorkflow spec, CancellationToken ct = default) =>
        ExactlyOnceAsync("start", 0, async (connection, tx, operation, token) =>
        {
            CreatedWorkflow created;
            try
            {
                created = await InsertWorkflowAsync(connection, tx, spec, token).ConfigureAwait(false);
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

    private async Task<CreatedWorkflow> InsertWorkflowAsync(DbConnection connection, DbTransaction tx, NewWorkflow spec,
        CancellationToken ct)
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
        };
        workflow.Id = await ScalarAsync<long>(connection, tx, Sql.InsertWorkflow, workflow, ct).ConfigureAwait(false);
        if (!hasSteps)
        {
            return new CreatedWorkflow(workflow, null);
        }

        var execution = await InsertScheduledAsync(connection, tx, workflow.Id, spec.FirstStepName!,
            now + (spec.FirstStepWait ?? TimeSpan.Zero), now, ct, gate: Armed(spec.FirstStepGate, now + (spec.FirstStepWait ?? TimeSpan.Zero)))
            .ConfigureAwait(false);
        return new CreatedWorkflow(workflow, execution);
    }

    private async Task<WorkflowAlreadyExistsException> AlreadyExistsAsync(DbConnection connection, DbTransaction? tx,
        NewWorkflow spec, Exception cause, CancellationToken ct)
    {
        var existing = await connection.ExecuteScalarAsync<long?>(Command(Sql.SelectOngoingWorkflowId,
            new { spec.Type, spec.HeroType, spec.HeroId }, tx, ct)).ConfigureAwait(false);
        return new WorkflowAlreadyExistsException(spec.Type, spec.HeroType, spec.HeroId, existing, cause);
    }

    /// <summary>Records the Hangfire job created for a scheduled execution.</summary>
    /// <remarks>Also stamps <c>DispatchedAt</c>: the reconciler measures how long a job has waited from it.</remarks>
    public Task<bool> SetJobIdAsync(long executionId, string jobId, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await ExecuteAsync(connection, Command(Sql.SetStepExecutionJobId,
                new { Id = executionId, JobId = ColumnLimits.JobId(jobId), Now }, null, token)).ConfigureAwait(false) == 1;
        }, ct);

    // ---- Claim, heartbeat, finalize ----------------------------------------------------------------

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
    public Task<ClaimResult> ClaimAsync(long executionId, string jobId, TimeSpan leaseDuration, CancellationToken ct = default,
        long? workflowIdHint = null)
    {
        // One token for every try: a repeat after a commit whose acknowledgement was lost finds its own lease.
        var leaseToken = Guid.NewGuid().ToString("N");
        return _retry.ExecuteAsync((attempt, token) => ClaimOnceAsync(executionId, jobId, leaseToken, leaseDuration, attempt > 0, workflowIdHint, token), ct);
    }

    private async Task<ClaimResult> ClaimOnceAsync(long executionId, string jobId, string leaseToken, TimeSpan leaseDuration, bool isRepeat,
        long? workflowIdHint, CancellationToken ct)
    {
        await using var locked = await LockExecutionAsync(executionId, workflowIdHint, ct, withLeaseClock: true).ConfigureAwait(false);
        if (locked is not { Transaction: { } tx, Workflow: { } workflow, Execution: { } execution })
        {
            return new ClaimResult(ClaimOutcome.NotFound, $"Step execution {executionId} or its workflow no longer exists.");
        }

        var connection = locked.Connection;
        var now = Now;
        var lease = new Lease(jobId, leaseToken, leaseDuration, now, locked.LeaseNow ?? now);
        if (isRepeat && await FindOwnClaimAsync(connection, tx, workflow, leaseToken, ct).ConfigureAwait(false) is { } own)
        {
            return new ClaimResult(ClaimOutcome.Claimed, $"Claimed step execution {own.Id}.", workflow, own,
                own.Id == execution.Id ? null : execution.Id);
        }

        var result = execution.ExecutionState switch
        {
            StepExecutionState.Scheduled => await ClaimScheduledAsync(connection, tx, workflow, execution, lease, ct).ConfigureAwait(false),
            StepExecutionState.InProgress => await ClaimInProgressAsync(connection, tx, workflow, execution, lease, ct).ConfigureAwait(false),
            StepExecutionState.Failed => await ClaimFailedAsync(connection, tx, workflow, execution, lease, ct).ConfigureAwait(false),
            StepExecutionState.Canceled when execution.StepOutcome == StepOutcome.Interrupted =>
                await ClaimAfterInterruptionAsync(connection, tx, workflow, execution, lease, ct).ConfigureAwait(false),
            _ => new ClaimResult(ClaimOutcome.AlreadyEnded,
                $"Step execution {execution.Id} already {execution.State}; nothing to run.", workflow, execution),
        };
        await CommitAsync(tx, "claim", ct).ConfigureAwait(false);
        return result;
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
        string leaseToken, CancellationToken ct)
    {
        var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
            new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
        return active is { State: "in_progress" } && active.LeaseToken == leaseToken ? active : null;
    }

    private async Task<ClaimResult> ClaimScheduledAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct)
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
            await UpdateAsync(connection, tx, execution, ct).ConfigureAwait(false);
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
            }, tx, ct)).ConfigureAwait(false);
        }
        else
        {
            await UpdateAsync(connection, tx, execution, ct).ConfigureAwait(false);
            await MarkPerformingAsync(connection, tx, workflow, execution.StepName, lease.Now, ct).ConfigureAwait(false);
        }

        return resumed
            ? new ClaimResult(ClaimOutcome.Retried, $"Job {lease.JobId} was requeued after its deletion paused workflow {workflow.Id}; the workflow resumed and step execution {execution.Id} runs.", workflow, execution)
            : new ClaimResult(ClaimOutcome.Claimed, $"Claimed step execution {execution.Id}.", workflow, execution);
    }

    private async Task<ClaimResult> ClaimInProgressAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct)
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
        await UpdateAsync(connection, tx, execution, ct).ConfigureAwait(false);
        if (workflow.WorkflowState != WorkflowState.Performing)
        {
            return new ClaimResult(ClaimOutcome.WorkflowNotRunnable,
                $"Step execution {execution.Id} lost its worker, and workflow {workflow.Id} is {workflow.State}; nothing runs.",
                workflow, execution);
        }

        var attempt = await InsertClaimedAsync(connection, tx, workflow.Id, execution.StepName, lease, Succession.After(execution), ct)
            .ConfigureAwait(false);
        return new ClaimResult(ClaimOutcome.TookOver,
            $"Step execution {execution.Id} lost its worker (lease expired); attempt {attempt.Id} takes over.",
            workflow, attempt, execution.Id);
    }

    private async Task<ClaimResult> ClaimFailedAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord execution, Lease lease, CancellationToken ct)
    {
        var latestId = await ScalarAsync<long>(connection, tx, Sql.SelectLatestStepExecutionId,
            new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
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
        var attempt = await InsertClaimedAsync(connection, tx, workflow.Id, execution.StepName, lease, Succession.After(execution), ct)
            .ConfigureAwait(false);
        await MarkPerformingAsync(connection, tx, workflow, execution.StepName, lease.Now, ct).ConfigureAwait(false);
        return new ClaimResult(ClaimOutcome.Retried,
            $"Retrying failed step execution {execution.Id} as attempt {attempt.Id}; workflow {workflow.Id} resumed.",
            workflow, attempt, execution.Id);
    }

    /// <summary>
    /// The job of an interrupted attempt is delivered again (Hangfire requeues a job its server stopped):
    /// it runs the attempt that the interruption scheduled in its place, which names this job.
    /// </summary>
    private async Task<ClaimResult> ClaimAfterInterruptionAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow,
        StepExecutionRecord interrupted, Lease lease, CancellationToken ct)
    {
        var successor = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution,
            new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
        if (successor is not { State: "scheduled" } || successor.StepName != interrupted.StepName || successor.JobId != lease.JobId)
        {
            return new ClaimResult(ClaimOutcome.AlreadyEnded,
                $"Step execution {interrupted.Id} was interrupted and its step has been handed to another job; nothing to run.", workflow, interrupted);
        }

        var claim = await ClaimScheduledAsync(connection, tx, workflow, successor, lease, ct).ConfigureAwait(false);
        return claim.IsClaimed ? claim with { ReplacedExecutionId = interrupted.Id } : claim;
    }

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
            await using var grid = await connection.QueryMultipleAsync(Command(Sql.SelectWorkflowState + " " + Sql.SelectDatabaseNow, new { Id = workflowId }, null, ct))
                .ConfigureAwait(false);
            state = await grid.ReadSingleOrDefaultAsync<string?>().ConfigureAwait(false);
            leaseNow = Truncated(await grid.ReadSingleAsync<DateTime>().ConfigureAwait(false));
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
    /// lease token) and reports it as applied.
    /// </summary>
    public Task<FinalizeResult> FinalizeAsync(long executionId, string leaseToken, StepCompletion completion,
        CancellationToken ct = default, long? workflowIdHint = null) =>
        _finalizeRetry.ExecuteAsync((_, token) => FinalizeOnceAsync(executionId, leaseToken, completion, workflowIdHint, token), ct);

    private async Task<FinalizeResult> FinalizeOnceAsync(long executionId, string leaseToken, StepCompletion completion,
        long? workflowIdHint, CancellationToken ct)
    {
        await InjectAsync("finalize.begin").ConfigureAwait(false);
        await using var locked = await LockExecutionAsync(executionId, workflowIdHint, ct).ConfigureAwait(false);
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
                new { WorkflowId = workflow.Id }, ct).ConfigureAwait(false);
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
                new { Id = execution.Id, LeaseToken = leaseToken, Cursor = unsaved.Json, Now = now }, tx, ct)).ConfigureAwait(false);
            execution.Cursor = unsaved.Json;
        }

        string? appliedInstead = null;
        if (completion.TimedOut is { } expired && workflow.WorkflowState == WorkflowState.Performing &&
            await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectUnconsumedEvent, new { WorkflowId = workflow.Id, Name = expired.EventName }, ct)
                .ConfigureAwait(false) is not null)
        {
            // The event came after the run looked and before this lock: it is not lost, and the timeout does not apply.
            // The step runs again now, with its gate, and takes the event.
            appliedInstead = $"The '{expired.EventName}' event came while its timeout was being applied; the timeout does not apply, and the step runs again now to take it";
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
            await UpdateAsync(connection, tx, execution, ct).ConfigureAwait(false);
            await CommitAsync(tx, "finalize", ct).ConfigureAwait(false);
            return new FinalizeResult(FinalizeOutcome.WorkflowChangedOutside, workflow, execution);
        }

        execution.TransitionTo(completion.ExecutionState, now);
        execution.Outcome = completion.Outcome.ToStored();
        execution.Metadata = execution.WaitingFor is null || completion.Metadata is null
            ? completion.Metadata ?? execution.Metadata
            : StepExecutionMetadata.Parse(execution.Metadata).Overlay(completion.Metadata).ToJson();
        if (completion.ConsumeEventId is { } eventId)
        {
            await connection.ExecuteAsync(Command(Sql.ConsumeEvent, new { Id = eventId, Now = now, ExecutionId = execution.Id }, tx, ct))
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

        // Both rows and the next step's execution are written in one round trip, only the columns a finalize changes.
        StepExecutionRecord? next = null;
        if (completion.Schedule is { } schedule && completion.WorkflowState == WorkflowState.Ready)
        {
            next = await PrepareScheduledAsync(connection, tx, workflow.Id, schedule.Name, now + schedule.Wait, now, ct,
                completion.HandOverToJobId,
                schedule.Name == execution.StepName || schedule.Name == completion.RanAs
                    ? Succession.After(execution, completion.RewindCursor)
                    : Succession.First,
                Armed(schedule.Gate, now + schedule.Wait)).ConfigureAwait(false);
        }

        var finish = new FinishParameters(execution, workflow, now, next);
        if (next is null)
        {
            await ExecuteAsync(connection, Command(Sql.FinishStepExecution, finish, tx, ct)).ConfigureAwait(false);
        }
        else
        {
            next.Id = await ReadInsertedIdAsync(connection, Command(_finishAndInsert ??= Sql.FinishStepExecution + " " + Sql.InsertStepExecution, finish, tx, ct))
                .ConfigureAwait(false);
        }

        await CommitAsync(tx, "finalize", ct).ConfigureAwait(false);
        return new FinalizeResult(FinalizeOutcome.Applied, workflow, execution, next) { AppliedInstead = appliedInstead };
    }

    /// <summary>
    /// How many times in a row the step was reattempted because of exceptions (policy or precondition)
    /// since it last succeeded or was skipped. Reattempts the step asked for itself do not count.
    /// </summary>
    public async Task<int> CountExceptionReattemptsAsync(long workflowId, string stepName, CancellationToken ct = default) =>
        (await ReattemptMetadataSinceLastSuccessAsync(workflowId, stepName, ct).ConfigureAwait(false))
        .Count(m => ReattemptReasons.CountsTowardLimit(StepExecutionMetadata.Parse(m).ReattemptReason));

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
    /// When the run of releases that <paramref name="execution"/> continues began: the execution just before it was
    /// released because a worker did not define its step (the same step), so the grace period counts from that
    /// release's mark. Null when <paramref name="execution"/> is not such a continuation.
    /// </summary>
    public async Task<DateTime?> UndefinedSinceAsync(long workflowId, StepExecutionRecord execution, CancellationToken ct = default)
    {
        var previous = await GetOneAsync<StepExecutionRecord>(Sql.SelectPreviousStepExecution, new { WorkflowId = workflowId, execution.Id }, ct)
            .ConfigureAwait(false);
        return previous is not null && previous.StepName == execution.StepName && previous.StepOutcome == StepOutcome.Interrupted
            ? StepExecutionMetadata.Parse(previous.Metadata).UndefinedSince
            : null;
    }

    /// <summary>How many times in a row the step was reattempted, for any reason, since it last succeeded or was skipped.</summary>
    public async Task<int> CountReattemptsAsync(long workflowId, string stepName, CancellationToken ct = default) =>
        (await ReattemptMetadataSinceLastSuccessAsync(workflowId, stepName, ct).ConfigureAwait(false)).Count;

    private Task<IReadOnlyList<string?>> ReattemptMetadataSinceLastSuccessAsync(long workflowId, string stepName, CancellationToken ct) =>
        ListAsync<string?>(Sql.SelectReattemptMetadataSinceLastSuccess, new { WorkflowId = workflowId, StepName = stepName }, ct);

    /// <summary>Moves every workflow stored under the hero type name <paramref name="oldName"/> to <paramref name="newName"/>.</summary>
    public Task<int> RenameHeroTypeAsync(string oldName, string newName, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteAsync(Command(Sql.RenameHeroType, new { OldName = oldName, NewName = newName }, null, token))
                .ConfigureAwait(false);
        }, ct);

    // ---- External events ---------------------------------------------------------------------------

    /// <summary>
    /// Delivers an event to a workflow in one transaction: keeps it (unless a delivery with the same name and key
    /// came before, or the workflow has ended), and when the workflow's scheduled step waits for it, moves that
    /// step to now. The caller dispatches the woken step's job after the commit.
    /// </summary>
    public Task<EventDeliveryRecord> DeliverEventAsync(long workflowId, string name, string eventKey, string? payload, string? traceParent,
        CancellationToken ct = default) =>
        ExactlyOnceAsync("event", workflowId, async (connection, tx, operation, token) =>
        {
            var result = await DeliverEventAsync(connection, tx, workflowId, name, eventKey, payload, traceParent, token).ConfigureAwait(false);
            operation.Outcome = result.Outcome.ToString();
            operation.EventId = result.Event?.Id;
            operation.ExecutionId = result.WokenExecution?.Id;
            return result;
        }, async (connection, operation, token) =>
        {
            var events = await connection.QueryAsync<WorkflowEventRecord>(Command(Sql.SelectEventsOfWorkflow, new { WorkflowId = workflowId }, null, token))
                .ConfigureAwait(false);
            return new EventDeliveryRecord(Enum.Parse<EventDeliveryOutcome>(operation.Outcome!),
                await SingleAsync<WorkflowRecord>(connection, null, Sql.SelectWorkflow, new { Id = workflowId }, token).ConfigureAwait(false),
                events.FirstOrDefault(e => e.Id == operation.EventId),
                await ExecutionOrNullAsync(connection, operation.ExecutionId, token).ConfigureAwait(false));
        }, ct);

    /// <summary>Delivers an event inside the caller's open connection and transaction (see the other overload).</summary>
    public async Task<EventDeliveryRecord> DeliverEventAsync(DbConnection connection, DbTransaction tx, long workflowId, string name, string eventKey,
        string? payload, string? traceParent, CancellationToken ct)
    {
        var workflow = await SingleAsync<WorkflowRecord>(connection, tx, Sql.LockWorkflow, new { Id = workflowId }, ct).ConfigureAwait(false)
            ?? throw new WorkflowNotFoundException(workflowId);
        if (workflow.WorkflowState is WorkflowState.Finished or WorkflowState.Canceled)
        {
            return new EventDeliveryRecord(EventDeliveryOutcome.WorkflowEnded, workflow, null, null);
        }

        var now = Now;
        if (await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectEventByKey, new { WorkflowId = workflowId, Name = name, EventKey = eventKey }, ct)
                .ConfigureAwait(false) is { } duplicate)
        {
            // Nothing new is kept; but a step that still waits for the kept original (its wake-up was lost) is woken again.
            var waiting = duplicate.ConsumedAt is null ? await WakeWaitingStepAsync(connection, tx, workflowId, name, now, ct).ConfigureAwait(false) : null;
            return new EventDeliveryRecord(EventDeliveryOutcome.Duplicate, workflow, duplicate, waiting);
        }

        var record = new WorkflowEventRecord
        {
            WorkflowId = workflowId, Name = name, EventKey = eventKey, Payload = payload, TraceParent = traceParent, CreatedAt = now,
        };
        var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution, new { WorkflowId = workflowId }, ct)
            .ConfigureAwait(false);
        if (active is not { State: "scheduled" } || active.WaitingFor != name)
        {
            var tooLate = active is not { State: "in_progress" } &&
                          await SingleAsync<StepExecutionRecord>(connection, tx, Sql.SelectLatestWaitForEvent, new { WorkflowId = workflowId, Name = name }, ct)
                              .ConfigureAwait(false) is { State: not ("scheduled" or "in_progress") } ended &&
                          ended.ParsedMetadata.ConsumedEvent is null;
            if (tooLate)
            {
                // The step that waited for it has stopped waiting (its timeout was applied, or it was skipped): the event is
                // recorded, marked taken by no step, so that a later wait for the same name does not take a stale event.
                record.ConsumedAt = now;
            }

            record.Id = await ScalarAsync<long>(connection, tx, Sql.InsertEvent, record, ct).ConfigureAwait(false);
            return new EventDeliveryRecord(tooLate ? EventDeliveryOutcome.TooLate : EventDeliveryOutcome.Kept, workflow, record, null);
        }

        record.Id = await ScalarAsync<long>(connection, tx, Sql.InsertEvent, record, ct).ConfigureAwait(false);
        await MoveToNowAsync(connection, tx, active, now, ct).ConfigureAwait(false);
        return new EventDeliveryRecord(EventDeliveryOutcome.Delivered, workflow, record, active);
    }

    /// <summary>The scheduled execution that waits for <paramref name="name"/>, moved to now; null when no step waits for it.</summary>
    private async Task<StepExecutionRecord?> WakeWaitingStepAsync(DbConnection connection, DbTransaction tx, long workflowId, string name, DateTime now,
        CancellationToken ct)
    {
        var active = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution, new { WorkflowId = workflowId }, ct)
            .ConfigureAwait(false);
        if (active is not { State: "scheduled" } || active.WaitingFor != name)
        {
            return null;
        }

        await MoveToNowAsync(connection, tx, active, now, ct).ConfigureAwait(false);
        return active;
    }

    private async Task MoveToNowAsync(DbConnection connection, DbTransaction tx, StepExecutionRecord active, DateTime now, CancellationToken ct)
    {
        if (active.ScheduledFor > now)
        {
            active.ScheduledFor = now;
            active.UpdatedAt = now;
            await UpdateAsync(connection, tx, active, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The oldest event of <paramref name="name"/> the workflow has not consumed yet.</summary>
    public Task<WorkflowEventRecord?> GetUnconsumedEventAsync(long workflowId, string name, CancellationToken ct = default) =>
        GetOneAsync<WorkflowEventRecord>(Sql.SelectUnconsumedEvent, new { WorkflowId = workflowId, Name = name }, ct);

    /// <summary>The newest event of <paramref name="name"/> a step of the workflow consumed.</summary>
    public Task<WorkflowEventRecord?> GetLatestConsumedEventAsync(long workflowId, string name, CancellationToken ct = default) =>
        GetOneAsync<WorkflowEventRecord>(Sql.SelectLatestConsumedEvent, new { WorkflowId = workflowId, Name = name }, ct);

    /// <summary>Every event the workflow received, oldest first.</summary>
    public Task<IReadOnlyList<WorkflowEventRecord>> GetEventsAsync(long workflowId, CancellationToken ct = default) =>
        ListAsync<WorkflowEventRecord>(Sql.SelectEventsOfWorkflow, new { WorkflowId = workflowId }, ct);

    // ---- External control --------------------------------------------------------------------------

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
            return new ControlResult(workflow, active);
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
            return new ControlResult(workflow, null, active);
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
            return new ControlResult(workflow, scheduled, active);
        }, ct, caller);

    private static string? WithOperator(string? metadata, string note)
    {
        var parsed = StepExecutionMetadata.Parse(metadata);
        parsed.Operator = ColumnLimits.Fit(note, 400);
        return parsed.ToJson();
    }

    // ---- Recovery and housekeeping -----------------------------------------------------------------

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

        await CommitAsync(tx, "recover", ct).ConfigureAwait(false);
        return new ControlResult(workflow, next);
    }

    /// <summary>Scheduled executions due at or before <paramref name="cutoff"/>, oldest first.</summary>
    public Task<IReadOnlyList<StepExecutionRecord>> GetDueScheduledAsync(DateTime cutoff, int limit, CancellationToken ct = default) =>
        ListAsync<StepExecutionRecord>(Sql.SelectDueScheduledStepExecutions, new { Cutoff = cutoff, Limit = limit }, ct);

    /// <summary>Due scheduled executions of ready workflows after the keyset position <paramref name="after"/>, oldest first.</summary>
    public Task<IReadOnlyList<StepExecutionRecord>> GetDueScheduledAfterAsync(DateTime cutoff, (DateTime ScheduledFor, long Id) after, int limit,
        CancellationToken ct = default) =>
        ListAsync<StepExecutionRecord>(Sql.SelectDueScheduledStepExecutionsAfter,
            new { Cutoff = cutoff, AfterScheduledFor = after.ScheduledFor, AfterId = after.Id, Limit = limit }, ct);

    /// <summary>In-progress executions whose lease has expired.</summary>
    public Task<IReadOnlyList<StepExecutionRecord>> GetExpiredLeasesAsync(int limit, CancellationToken ct = default) =>
        RetryAsync<IReadOnlyList<StepExecutionRecord>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var now = await LeaseNowAsync(connection, null, token).ConfigureAwait(false);
            return (await connection.QueryAsync<StepExecutionRecord>(Command(Sql.SelectExpiredLeases, new { Now = now, Limit = limit }, null, token))
                .ConfigureAwait(false)).ToList();
        }, ct);

    /// <summary>
    /// Deletes one batch of finished or canceled workflows that ended before <paramref name="cutoff"/>,
    /// with their executions, in one short transaction.
    /// </summary>
    public Task<CleanupBatch> DeleteEndedWorkflowsBatchAsync(DateTime cutoff, int batchSize, CancellationToken ct = default)
    {
        if (batchSize < 1 || batchSize > _dialect.MaxBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"The cleanup batch size must be between 1 and {_dialect.MaxBatchSize} on {_dialect.Name}.");
        }

        return RetryAsync(token => DeleteEndedWorkflowsBatchOnceAsync(cutoff, batchSize, token), ct);
    }

    /// <summary>How many step executions one cleanup statement deletes at most (below SQL Server's lock escalation).</summary>
    internal const int CleanupChunk = 1000;

    /// <remarks>
    /// Parent first, as every other transaction: the batch's workflow rows are locked, then their executions
    /// are deleted in row-bounded statements, then the workflows. No statement holds more than
    /// <see cref="CleanupChunk"/> execution rows, so SQL Server never escalates to a table lock that would stall
    /// claims; the dialect lowers the session's deadlock priority and bounds its lock waits meanwhile.
    /// </remarks>
    private async Task<CleanupBatch> DeleteEndedWorkflowsBatchOnceAsync(DateTime cutoff, int batchSize, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        if (_dialect.Sql.CleanupSessionSetup is { } setup)
        {
            await connection.ExecuteAsync(Command(setup, null, null, ct)).ConfigureAwait(false);
        }

        try
        {
            await using var tx = await BeginAsync(connection, ct).ConfigureAwait(false);
            var ids = (await connection.QueryAsync<long>(Command(Sql.LockEndedWorkflowIds,
                new { Cutoff = cutoff, Limit = batchSize }, tx, ct)).ConfigureAwait(false)).ToArray();
            if (ids.Length == 0)
            {
                return new CleanupBatch(0, 0);
            }

            var executions = 0;
            int deleted;
            do
            {
                deleted = await connection.ExecuteAsync(Command(Sql.DeleteStepExecutionsOfWorkflows,
                    new { Ids = ids, Limit = CleanupChunk }, tx, ct)).ConfigureAwait(false);
                executions += deleted;
            }
            while (deleted == CleanupChunk);

            await connection.ExecuteAsync(Command(Sql.DeleteEventsOfWorkflows, new { Ids = ids }, tx, ct)).ConfigureAwait(false);
            var workflows = await connection.ExecuteAsync(Command(Sql.DeleteWorkflows, new { Ids = ids }, tx, ct)).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new CleanupBatch(workflows, executions);
        }
        finally
        {
            if (_dialect.Sql.CleanupSessionReset is { } reset && connection.State == System.Data.ConnectionState.Open)
            {
                // Pooled connections keep session settings: hand this one back as it came.
                await connection.ExecuteAsync(Command(reset, null, null, CancellationToken.None)).ConfigureAwait(false);
            }
        }
    }

    // ---- Queries -----------------------------------------------------------------------------------

    public Task<WorkflowRecord?> GetWorkflowAsync(long id, CancellationToken ct = default) =>
        GetOneAsync<WorkflowRecord>(Sql.SelectWorkflow, new { Id = id }, ct);

    public Task<StepExecutionRecord?> GetStepExecutionAsync(long id, CancellationToken ct = default) =>
        GetOneAsync<StepExecutionRecord>(Sql.SelectStepExecution, new { Id = id }, ct);

    public Task<StepExecutionRecord?> GetCurrentExecutionAsync(long workflowId, CancellationToken ct = default) =>
        GetOneAsync<StepExecutionRecord>(Sql.SelectActiveStepExecution, new { WorkflowId = workflowId }, ct);

    public Task<IReadOnlyList<StepExecutionRecord>> GetHistoryAsync(long workflowId, CancellationToken ct = default) =>
        ListAsync<StepExecutionRecord>(Sql.SelectStepExecutionHistory, new { WorkflowId = workflowId }, ct);

    public Task<IReadOnlyList<WorkflowRecord>> GetByHeroAsync(string heroType, string heroId, CancellationToken ct = default) =>
        ListAsync<WorkflowRecord>(Sql.SelectWorkflowsByHero, new { HeroType = heroType, HeroId = heroId }, ct);

    /// <summary>Workflows filtered by state and type (either may be null), newest first, with the total count.</summary>
    public Task<WorkflowPage> GetPageAsync(WorkflowState? state, string? type, int offset, int limit, CancellationToken ct = default) =>
        RetryAsync(token => GetPageOnceAsync(state, type, offset, limit, true, token), ct);

    /// <summary>One page of workflows, as <see cref="GetPageAsync"/>, without counting the total (its <c>Total</c> is -1).</summary>
    public Task<WorkflowPage> GetPageItemsAsync(WorkflowState? state, string? type, int offset, int limit, CancellationToken ct = default) =>
        RetryAsync(token => GetPageOnceAsync(state, type, offset, limit, false, token), ct);

    private async Task<WorkflowPage> GetPageOnceAsync(WorkflowState? state, string? type, int offset, int limit, bool countTotal, CancellationToken ct)
    {
        var filter = new { State = state?.ToStored(), Type = type, Offset = offset, Limit = limit };
        await using var connection = await OpenAsync(ct).ConfigureAwait(false);
        // One statement per filter shape, so each gets a plan of its own (no catch-all "@x IS NULL OR …").
        var shape = StorageStatements.FilterShape(state is not null, type is not null);
        var items = await connection.QueryAsync<WorkflowRecord>(Command(Sql.SelectWorkflowsPage[shape], filter, null, ct)).ConfigureAwait(false);
        var total = countTotal
            ? await connection.ExecuteScalarAsync<long>(Command(Sql.CountWorkflows[shape], filter, null, ct)).ConfigureAwait(false)
            : -1;
        return new WorkflowPage(items.ToList(), total);
    }

    /// <summary>In-flight workflows of <paramref name="type"/> standing at <paramref name="stepName"/>, newest first.</summary>
    public Task<IReadOnlyList<WorkflowRecord>> GetInFlightAtStepAsync(string type, string stepName, int offset, int limit, CancellationToken ct = default) =>
        ListAsync<WorkflowRecord>(Sql.SelectInFlightWorkflowsAtStep, new { Type = type, StepName = stepName, Offset = offset, Limit = limit }, ct);

    /// <summary>How many workflows are in <paramref name="state"/> (one indexed count).</summary>
    public Task<long> CountInStateAsync(WorkflowState state, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteScalarAsync<long>(Command(Sql.CountWorkflows[StorageStatements.FilterShape(true, false)],
                new { State = state.ToStored() }, null, token)).ConfigureAwait(false);
        }, ct);

    /// <summary>The number of workflows in each state (every state present, zero when none).</summary>
    public async Task<IReadOnlyDictionary<WorkflowState, long>> CountByStateAsync(CancellationToken ct = default)
    {
        var counts = Enum.GetValues<WorkflowState>().ToDictionary(s => s, _ => 0L);
        foreach (var ((_, state), count) in await CountByTypeAndStateAsync(ct).ConfigureAwait(false))
        {
            counts[state] += count;
        }

        return counts;
    }

    /// <summary>How many workflows of each type are in each state (one grouped count of the whole table).</summary>
    public Task<IReadOnlyDictionary<(string Type, WorkflowState State), long>> CountByTypeAndStateAsync(CancellationToken ct = default) =>
        RetryAsync<IReadOnlyDictionary<(string Type, WorkflowState State), long>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var rows = await connection.QueryAsync<(string Type, string State, long Count)>(Command(Sql.CountWorkflowsByTypeAndState, null, null, token))
                .ConfigureAwait(false);
            return rows.ToDictionary(r => (r.Type, StateNames.ParseWorkflowState(r.State)), r => r.Count);
        }, ct);

    /// <summary>How many in-flight workflows of each type stand at each step, by state (the drift report's one query).</summary>
    public Task<IReadOnlyList<(string Type, string? StepName, WorkflowState State, long Count)>> CountInFlightByStepAsync(CancellationToken ct = default) =>
        RetryAsync<IReadOnlyList<(string Type, string? StepName, WorkflowState State, long Count)>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var rows = await connection.QueryAsync<(string Type, string? StepName, string State, long Count)>(
                Command(Sql.CountInFlightWorkflowsByStep, null, null, token)).ConfigureAwait(false);
            return rows.Select(r => (r.Type, r.StepName, StateNames.ParseWorkflowState(r.State), r.Count)).ToList();
        }, ct);

    // ---- Helpers -----------------------------------------------------------------------------------

    private async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = _dialect.CreateConnection();
        try
        {
            if (t_blocking)
            {
                connection.Open();
            }
            else
            {
                await connection.OpenAsync(ct).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Opens a transaction holding the locks on an execution's workflow and then the execution (the only
    /// lock order used anywhere). The execution is read once without a lock to learn its workflow, since
    /// the workflow row must be locked first. Missing rows come back as nulls (no transaction when the
    /// execution itself is gone).
    /// </summary>
    /// <param name="executionId">The execution.</param>
    /// <param name="workflowIdHint">Its workflow, when known (both rows are then locked in one round trip).</param>
    /// <param name="ct">Cancels it.</param>
    /// <param name="withLeaseClock">Also read the lease clock's time (<see cref="LockedExecution.LeaseNow"/>), in the same round trip when hinted.</param>
    private async Task<LockedExecution> LockExecutionAsync(long executionId, long? workflowIdHint, CancellationToken ct, bool withLeaseClock = false)
    {
        var readClock = withLeaseClock && LeasesOnDatabaseClock;
        var connection = await OpenAsync(ct).ConfigureAwait(false);
        try
        {
            if (workflowIdHint is { } hinted)
            {
                // The job's arguments named the workflow: both rows are locked in one round trip, workflow first.
                var batchTx = await BeginAsync(connection, ct).ConfigureAwait(false);
                WorkflowRecord? lockedWorkflow;
                StepExecutionRecord? lockedExecution;
                DateTime? databaseNow = null;
                var locking = Command(readClock ? Sql.LockWorkflowAndStepExecution + " " + Sql.SelectDatabaseNow : Sql.LockWorkflowAndStepExecution,
                    new { WorkflowId = hinted, ExecutionId = executionId }, batchTx, ct);
                if (t_blocking)
                {
                    using var grid = connection.QueryMultiple(locking);
                    lockedWorkflow = grid.ReadSingleOrDefault<WorkflowRecord>();
                    lockedExecution = grid.ReadSingleOrDefault<StepExecutionRecord>();
                    databaseNow = readClock ? grid.ReadSingle<DateTime>() : null;
                }
                else
                {
                    using var grid = await connection.QueryMultipleAsync(locking).ConfigureAwait(false);
                    lockedWorkflow = await grid.ReadSingleOrDefaultAsync<WorkflowRecord>().ConfigureAwait(false);
                    lockedExecution = await grid.ReadSingleOrDefaultAsync<StepExecutionRecord>().ConfigureAwait(false);
                    databaseNow = readClock ? await grid.ReadSingleAsync<DateTime>().ConfigureAwait(false) : null;
                }

                if (lockedWorkflow is not null && lockedExecution is not null && lockedExecution.WorkflowId == hinted)
                {
                    return new LockedExecution(connection, batchTx, lockedWorkflow, lockedExecution,
                        databaseNow is { } clock ? Truncated(clock) : withLeaseClock ? Now : null);
                }

                // The hint did not hold (a hand-made job, or rows gone): start over the careful way.
                await batchTx.DisposeAsync().ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
                return await LockExecutionAsync(executionId, null, ct, withLeaseClock).ConfigureAwait(false);
            }

            var workflowId = workflowIdHint;
            if (workflowId is null)
            {
                var peek = await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = executionId }, ct)
                    .ConfigureAwait(false);
                if (peek is null)
                {
                    return new LockedExecution(connection, null, null, null);
                }

                workflowId = peek.WorkflowId;
            }

            var tx = await BeginAsync(connection, ct).ConfigureAwait(false);
            var workflow = await SingleAsync<WorkflowRecord>(connection, tx, Sql.LockWorkflow, new { Id = workflowId.Value }, ct)
                .ConfigureAwait(false);
            var execution = workflow is null
                ? null
                : await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockStepExecution, new { Id = executionId }, ct)
                    .ConfigureAwait(false);
            if (workflowIdHint is not null && (execution is null || execution.WorkflowId != workflowIdHint))
            {
                // The hint did not hold (a hand-made job, or rows gone): start over the careful way.
                await tx.DisposeAsync().ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
                return await LockExecutionAsync(executionId, null, ct, withLeaseClock).ConfigureAwait(false);
            }

            return new LockedExecution(connection, tx, workflow, execution,
                withLeaseClock && execution is not null ? await LeaseNowAsync(connection, tx, ct).ConfigureAwait(false) : null);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The locked rows, and the lease clock's time when asked for (null otherwise).</summary>
    private sealed record LockedExecution(DbConnection Connection, DbTransaction? Transaction, WorkflowRecord? Workflow,
        StepExecutionRecord? Execution, DateTime? LeaseNow = null) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (t_blocking)
            {
                Transaction?.Dispose();
                Connection.Dispose();
                return;
            }

            if (Transaction is not null)
            {
                await Transaction.DisposeAsync().ConfigureAwait(false);
            }

            await Connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Task<ControlResult> UnderWorkflowLockAsync(string command, long workflowId,
        Func<DbConnection, DbTransaction, WorkflowRecord, DateTime, Task<ControlResult>> action, CancellationToken ct,
        CallerTransaction? caller = null) =>
        caller is { } joined
            ? UnderCallersLockAsync(workflowId, action, joined, ct)
            : ExactlyOnceAsync(command, workflowId, async (connection, tx, operation, token) =>
            {
                var workflow = await SingleAsync<WorkflowRecord>(connection, tx, Sql.LockWorkflow, new { Id = workflowId }, token)
                    .ConfigureAwait(false) ?? throw new WorkflowNotFoundException(workflowId);
                var result = await action(connection, tx, workflow, Now).ConfigureAwait(false);
                operation.ExecutionId = result.Execution?.Id;
                operation.EndedExecutionId = result.Ended?.Id;
                return result;
            }, async (connection, operation, token) => new ControlResult(
                await SingleAsync<WorkflowRecord>(connection, null, Sql.SelectWorkflow, new { Id = workflowId }, token).ConfigureAwait(false)
                    ?? throw new WorkflowNotFoundException(workflowId),
                await ExecutionOrNullAsync(connection, operation.ExecutionId, token).ConfigureAwait(false),
                await ExecutionOrNullAsync(connection, operation.EndedExecutionId, token).ConfigureAwait(false)), ct);

    private async Task<StepExecutionRecord?> ExecutionOrNullAsync(DbConnection connection, long? id, CancellationToken ct) =>
        id is { } known
            ? await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = known }, ct).ConfigureAwait(false)
            : null;

    /// <summary>
    /// Runs a write command's transaction so that it takes effect once, however often it is repeated after transient
    /// faults: <paramref name="apply"/> makes the change (and fills in what to remember of it), the operation's row is
    /// written in the same transaction, and a repeat after a commit whose acknowledgement was lost first looks for that
    /// row: found, the first attempt's result is rebuilt by <paramref name="replay"/> instead of applying the command
    /// again. When the outcome of a commit cannot be learned before the retry budget runs out, the caller gets
    /// <see cref="OperationOutcomeUnknownException"/> with the operation id instead of a guess.
    /// </summary>
    private async Task<T> ExactlyOnceAsync<T>(string command, long workflowId,
        Func<DbConnection, DbTransaction, OperationRecord, CancellationToken, Task<T>> apply,
        Func<DbConnection, OperationRecord, CancellationToken, Task<T>> replay, CancellationToken ct)
    {
        var operationId = Guid.NewGuid().ToString("N");
        var unknown = false;
        try
        {
            return await _retry.ExecuteAsync(async (attempt, token) =>
            {
                await using var connection = await OpenAsync(token).ConfigureAwait(false);
                if (unknown)
                {
                    await InjectAsync(command + ".lookup").ConfigureAwait(false);
                    var own = await SingleAsync<OperationRecord>(connection, null, Sql.SelectOperation, new { OperationId = operationId }, token)
                        .ConfigureAwait(false);
                    unknown = false;
                    if (own is not null)
                    {
                        return await replay(connection, own, token).ConfigureAwait(false);
                    }
                }

                await using var tx = await BeginAsync(connection, token).ConfigureAwait(false);
                var operation = new OperationRecord { OperationId = operationId, WorkflowId = workflowId, Command = command };
                var result = await apply(connection, tx, operation, token).ConfigureAwait(false);
                operation.CreatedAt = Now;
                await ExecuteAsync(connection, Command(Sql.InsertOperation, operation, tx, token)).ConfigureAwait(false);
                unknown = true;
                await CommitAsync(tx, command, token).ConfigureAwait(false);
                unknown = false;
                return result;
            }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (unknown && e is not OperationCanceledException)
        {
            throw new OperationOutcomeUnknownException(operationId, command, workflowId, e);
        }
    }

    /// <summary>Deletes at most <paramref name="limit"/> operation rows written before <paramref name="cutoff"/> (cleanup).</summary>
    public Task<int> DeleteOperationsBeforeAsync(DateTime cutoff, int limit, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteAsync(Command(Sql.DeleteOperationsBefore, new { Cutoff = cutoff, Limit = limit }, null, token))
                .ConfigureAwait(false);
        }, ct);

    /// <summary>The same change inside the caller's transaction: it commits (or rolls back) with the caller's own work; no retry here.</summary>
    private async Task<ControlResult> UnderCallersLockAsync(long workflowId,
        Func<DbConnection, DbTransaction, WorkflowRecord, DateTime, Task<ControlResult>> action, CallerTransaction caller, CancellationToken ct)
    {
        var workflow = await SingleAsync<WorkflowRecord>(caller.Connection, caller.Transaction, Sql.LockWorkflow, new { Id = workflowId }, ct)
            .ConfigureAwait(false) ?? throw new WorkflowNotFoundException(workflowId);
        return await action(caller.Connection, caller.Transaction, workflow, Now).ConfigureAwait(false);
    }

    private static void TransitionWorkflow(WorkflowRecord workflow, WorkflowState target, DateTime now)
    {
        StateTransitions.EnsureAllowed(workflow.WorkflowState, target);
        workflow.State = target.ToStored();
        workflow.UpdatedAt = now;
        workflow.TransitionedAt = target is WorkflowState.Paused or WorkflowState.Finished or WorkflowState.Canceled ? now : null;
        // Set again by the callers for whom a job paused it (a failed step, a deleted job), and who say why.
        workflow.PausedByJobId = null;
        workflow.StateReason = null;
        if (target is WorkflowState.Finished or WorkflowState.Canceled)
        {
            workflow.CurrentStepName = null;
        }
    }

    private async Task MarkPerformingAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow, string stepName,
        DateTime now, CancellationToken ct)
    {
        MarkPerforming(workflow, stepName, now);
        await UpdateAsync(connection, tx, workflow, ct).ConfigureAwait(false);
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

    private async Task<StepExecutionRecord> InsertScheduledAsync(DbConnection connection, DbTransaction tx, long workflowId,
        string stepName, DateTime scheduledFor, DateTime now, CancellationToken ct, string? jobId = null, Succession? succession = null,
        WaitGate? gate = null, string? operatorNote = null)
    {
        var execution = await PrepareScheduledAsync(connection, tx, workflowId, stepName, scheduledFor, now, ct, jobId, succession, gate)
            .ConfigureAwait(false);
        if (operatorNote is not null)
        {
            execution.Metadata = WithOperator(execution.Metadata, operatorNote);
        }

        execution.Id = await ScalarAsync<long>(connection, tx, Sql.InsertStepExecution, execution, ct).ConfigureAwait(false);
        return execution;
    }

    /// <summary>The row of a step's next scheduled execution, not inserted yet (the id is set when it is).</summary>
    private async Task<StepExecutionRecord> PrepareScheduledAsync(DbConnection connection, DbTransaction tx, long workflowId,
        string stepName, DateTime scheduledFor, DateTime now, CancellationToken ct, string? jobId, Succession? succession,
        WaitGate? gate)
    {
        var from = succession ?? Succession.First;
        gate ??= from.Gate;
        string? metadata = null;
        DateTime? waitUntil = null;
        if (gate is not null)
        {
            var gateMetadata = StepExecutionMetadata.Empty;
            gateMetadata.Wait = (gate.Timeout, gate.OnTimeout);
            metadata = gateMetadata.ToJson();
            waitUntil = gate.Until;
            if (gate.Until is not null &&
                await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectUnconsumedEvent, new { WorkflowId = workflowId, Name = gate.EventName }, ct)
                    .ConfigureAwait(false) is not null)
            {
                // The event came before the workflow reached the wait: the step runs now and takes it.
                scheduledFor = now;
            }
        }

        var execution = new StepExecutionRecord
        {
            WorkflowId = workflowId,
            StepName = stepName,
            Attempt = from.Attempt,
            Cursor = from.Cursor,
            WaitingFor = gate?.EventName,
            WaitUntil = waitUntil,
            Metadata = metadata,
            State = StepExecutionState.Scheduled.ToStored(),
            ScheduledFor = scheduledFor,
            JobId = jobId,
            DispatchedAt = jobId is null ? null : now,
            CreatedAt = now,
            UpdatedAt = now,
        };
        ColumnLimits.Apply(execution);
        return execution;
    }

    /// <summary>Runs a batch whose last statement is an insert returning the new id, and reads that id.</summary>
    private static async Task<long> ReadInsertedIdAsync(DbConnection connection, CommandDefinition command)
    {
        if (t_blocking)
        {
            return ReadInsertedId(connection, command);
        }

        await using var reader = await connection.ExecuteReaderAsync(command).ConfigureAwait(false);
        long? id = null;
        do
        {
            // Statements without rows (the updates) come first in some providers' result sets; the insert's id is the one row.
            while (reader.FieldCount > 0 && await reader.ReadAsync(command.CancellationToken).ConfigureAwait(false))
            {
                id = IdOf(reader);
            }
        }
        while (await reader.NextResultAsync(command.CancellationToken).ConfigureAwait(false));

        return id ?? throw NoInsertedId();
    }

    private static long IdOf(IDataRecord row) => Convert.ToInt64(row.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);

    private static InvalidOperationException NoInsertedId() => new("The insert of the next step execution returned no id.");

    private static long ReadInsertedId(DbConnection connection, CommandDefinition command)
    {
        using var reader = connection.ExecuteReader(command);
        long? id = null;
        do
        {
            while (reader.FieldCount > 0 && reader.Read())
            {
                id = IdOf(reader);
            }
        }
        while (reader.NextResult());

        return id ?? throw NoInsertedId();
    }

    private async Task<StepExecutionRecord> InsertClaimedAsync(DbConnection connection, DbTransaction tx, long workflowId,
        string stepName, Lease lease, Succession succession, CancellationToken ct)
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
        execution.Id = await ScalarAsync<long>(connection, tx, Sql.InsertStepExecution, execution, ct).ConfigureAwait(false);
        return execution;
    }

    /// <summary>The caller's open connection and transaction, for a change that must commit with the caller's own work.</summary>
    internal sealed record CallerTransaction(DbConnection Connection, DbTransaction Transaction);

    /// <summary>A gate as scheduled: armed until <paramref name="until"/> unless it already names its time.</summary>
    private static WaitGate? Armed(WaitGate? gate, DateTime until) => gate is null ? null : gate with { Until = gate.Until ?? until };

    /// <summary>What a new execution of a step takes over from the execution before it: the logical attempt and the cursor.</summary>
    internal readonly record struct Succession(int Attempt, string? Cursor, WaitGate? Gate = null)
    {
        /// <summary>The first execution of a step: attempt 1, no cursor.</summary>
        public static Succession First => new(1, null);

        /// <summary>
        /// After a reattempt or a failure the step makes a new logical attempt; after a takeover, an interruption,
        /// a time slice or a pause it continues the same one. The cursor carries over unless the step rewinds.
        /// </summary>
        public static Succession After(StepExecutionRecord previous, bool rewind = false) =>
            new(previous.StepOutcome is StepOutcome.Reattempted or StepOutcome.Failed ? previous.Attempt + 1 : previous.Attempt,
                rewind ? null : previous.Cursor, GateAfter(previous));

        /// <summary>
        /// A step that was still waiting for its event (it timed out into a pause, was interrupted, or lost its
        /// worker) waits again, armed anew when it runs; one whose gate took its event does not.
        /// </summary>
        private static WaitGate? GateAfter(StepExecutionRecord previous)
        {
            if (previous.WaitingFor is not { } eventName)
            {
                return null;
            }

            var metadata = previous.ParsedMetadata;
            return metadata.ConsumedEvent is null && metadata.Wait is { } wait ? new WaitGate(eventName, wait.Timeout, wait.OnTimeout) : null;
        }
    }

    private Task UpdateAsync(DbConnection connection, DbTransaction tx, StepExecutionRecord execution, CancellationToken ct)
    {
        ColumnLimits.Apply(execution);
        return connection.ExecuteAsync(Command(Sql.UpdateStepExecution, execution, tx, ct));
    }

    private Task UpdateAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow, CancellationToken ct)
    {
        FitColumns(workflow);
        return connection.ExecuteAsync(Command(Sql.UpdateWorkflow, workflow, tx, ct));
    }

    private static void FitColumns(WorkflowRecord workflow)
    {
        workflow.PausedByJobId = workflow.PausedByJobId is null ? null : ColumnLimits.JobId(workflow.PausedByJobId);
        workflow.StateReason = ColumnLimits.Fit(workflow.StateReason, ColumnLimits.StateReasonLength);
    }

    private Task<T?> SingleAsync<T>(DbConnection connection, DbTransaction? tx, string sql, object parameters,
        CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<T>(Command(sql, parameters, tx, ct));

    private Task<T> ScalarAsync<T>(DbConnection connection, DbTransaction tx, string sql, object parameters,
        CancellationToken ct) =>
        connection.ExecuteScalarAsync<T>(Command(sql, parameters, tx, ct))!;

    private Task<IReadOnlyList<T>> ListAsync<T>(string sql, object parameters, CancellationToken ct) =>
        RetryAsync<IReadOnlyList<T>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return (await connection.QueryAsync<T>(Command(sql, parameters, null, token)).ConfigureAwait(false))
                .ToList();
        }, ct);

    private Task<T?> GetOneAsync<T>(string sql, object parameters, CancellationToken ct) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await SingleAsync<T>(connection, null, sql, parameters, token).ConfigureAwait(false);
        }, ct);
}
