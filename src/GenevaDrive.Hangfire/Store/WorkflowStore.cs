using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// The workflow tables, shared by every database. Each operation that must be atomic is one short
/// transaction that locks the workflow row first and the step execution row second (always in that
/// order, so two transactions never wait on each other in opposite orders), checks the state machines,
/// and writes both rows. User code never runs inside these transactions.
/// <para>
/// One class in parts, by concern: this file is the transaction runner every part uses (connections, transactions,
/// retries, exactly-once commands, the locking reads); <c>.Claim</c> and <c>.Finalize</c> are the lease protocol
/// read top to bottom (claim → heartbeat and checkpoint → finalize → recovery), <c>.FinalizeBatch</c> the finalize's
/// one-statement common case; <c>.Commands</c> the write commands;
/// <c>.Events</c> event delivery; <c>.Housekeeping</c> the reconciler's and cleanup's statements; <c>.Queries</c> the
/// read model; <c>.Rows</c> the row helpers they share.
/// </para>
/// </summary>
internal sealed partial class WorkflowStore
{
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
        JobIds = new JobIdRecorder(SetJobIdsAsync, logger, inline: dialect.SingleWriter);
    }

    /// <summary>The ids of new step jobs, written to their executions in batches (see <see cref="JobIdRecorder"/>).</summary>
    public JobIdRecorder JobIds { get; }

    /// <summary>
    /// Test seam for fault injection: called at named points — "claim.committed", "finalize.committed" (right
    /// after the commit, where a lost acknowledgement hurts most), "start.written" (a start's writes sent: committed with them where
    /// the storage commits in a batch, not yet elsewhere) and "heartbeat" (before the update) — so a
    /// test can throw a transient fault exactly there. Null in production.
    /// </summary>
    internal Func<string, Task>? Faults { get; set; }

    private Task InjectAsync(string point) => Faults is { } faults ? faults(point) : Task.CompletedTask;

    /// <param name="tx">The transaction.</param>
    /// <param name="operation">Names the fault injection point "operation.committed".</param>
    /// <param name="ct">Cancels it.</param>
    /// <param name="io">Blocking or asynchronous calls.</param>
    /// <param name="inBatch">True when the last batch ended with <see cref="StorageStatements.CommitTransaction"/>: nothing to send.</param>
    private async Task CommitAsync(DbTransaction tx, string operation, CancellationToken ct, StoreIo io = default, bool inBatch = false)
    {
        if (!inBatch)
        {
            await io.CommitAsync(tx, ct).ConfigureAwait(false);
        }

        await InjectAsync(operation + ".committed").ConfigureAwait(false);
    }

    /// <summary><paramref name="statement"/> followed by the commit when the storage commits in a batch (see <see cref="CommitAsync"/>).</summary>
    private SqlStatement Committing(SqlStatement statement) => Sql.CommitTransaction is { } commit ? statement.Then(commit) : statement;

    private static ValueTask<int> ExecuteAsync(DbConnection connection, CommandDefinition command, StoreIo io = default) =>
        io.ExecuteAsync(connection, command);

    private Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken ct) =>
        _retry.ExecuteAsync((_, token) => operation(token), ct);

    /// <summary>
    /// Test seam: sees every statement with the transaction it runs in (null outside one), so tests can
    /// check the lock order of each transaction on every database. Null in production.
    /// </summary>
    internal Action<DbTransaction?, string>? Statements { get; set; }

    /// <summary>Begins a transaction (announced to <see cref="Statements"/> as "BEGIN").</summary>
    private async Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken ct, StoreIo io = default)
    {
        var tx = await io.BeginAsync(_dialect, connection, ct).ConfigureAwait(false);
        Statements?.Invoke(tx, "BEGIN");
        return tx;
    }

    /// <summary>
    /// Every command of the store is made here: the statement's declared parameters are bound from <paramref name="values"/>,
    /// the dialect types them by kind (e.g. <c>datetime2</c> and <c>varchar</c> on SQL Server), and the storage's command timeout applies.
    /// </summary>
    private CommandDefinition Command(SqlStatement statement, object? values, DbTransaction? tx, CancellationToken ct)
    {
        Statements?.Invoke(tx, statement.Text);
        return new CommandDefinition(statement.Text, values is null ? null : StatementBinder.Bind(_dialect, statement, values), tx,
            _dialect.CommandTimeoutSeconds, cancellationToken: ct);
    }

    public SqlDialect Dialect => _dialect;

    private SqlStatement? _lockAndNow;

    private StorageStatements Sql => _dialect.Sql;

    private DateTime Now => UtcTimes.Now(_time);

    private ValueTask<DbConnection> OpenAsync(CancellationToken ct, StoreIo io = default) => io.OpenAsync(_dialect, ct);

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
    /// <param name="io">Blocking or asynchronous calls; the locked rows are released the same way.</param>
    private async Task<LockedExecution> LockExecutionAsync(long executionId, long? workflowIdHint, CancellationToken ct, bool withLeaseClock = false,
        StoreIo io = default)
    {
        var readClock = withLeaseClock && LeasesOnDatabaseClock;
        var connection = await OpenAsync(ct, io).ConfigureAwait(false);
        try
        {
            if (workflowIdHint is { } hinted)
            {
                // The job's arguments named the workflow: both rows are locked in one round trip, workflow first.
                var batchTx = await BeginAsync(connection, ct, io).ConfigureAwait(false);
                WorkflowRecord? lockedWorkflow;
                StepExecutionRecord? lockedExecution;
                DateTime? databaseNow = null;
                var locking = Command(readClock ? _lockAndNow ??= Sql.LockWorkflowAndStepExecution.Then(Sql.SelectDatabaseNow) : Sql.LockWorkflowAndStepExecution,
                    new { WorkflowId = hinted, ExecutionId = executionId }, batchTx, ct);
                using (var grid = await io.QueryMultipleAsync(connection, locking).ConfigureAwait(false))
                {
                    lockedWorkflow = await io.ReadSingleOrDefaultAsync<WorkflowRecord>(grid).ConfigureAwait(false);
                    lockedExecution = await io.ReadSingleOrDefaultAsync<StepExecutionRecord>(grid).ConfigureAwait(false);
                    databaseNow = readClock ? await io.ReadSingleAsync<DateTime>(grid).ConfigureAwait(false) : null;
                }

                if (lockedWorkflow is not null && lockedExecution is not null && lockedExecution.WorkflowId == hinted)
                {
                    return new LockedExecution(connection, batchTx, lockedWorkflow, lockedExecution,
                        databaseNow is { } clock ? UtcTimes.ToMillisecond(clock) : withLeaseClock ? Now : null) { Io = io };
                }

                // The hint did not hold (a hand-made job, or rows gone): start over the careful way.
                await io.DisposeAsync(batchTx).ConfigureAwait(false);
                await io.DisposeAsync(connection).ConfigureAwait(false);
                return await LockExecutionAsync(executionId, null, ct, withLeaseClock, io).ConfigureAwait(false);
            }

            var workflowId = workflowIdHint;
            if (workflowId is null)
            {
                var peek = await SingleAsync<StepExecutionRecord>(connection, null, Sql.SelectStepExecution, new { Id = executionId }, ct, io)
                    .ConfigureAwait(false);
                if (peek is null)
                {
                    return new LockedExecution(connection, null, null, null) { Io = io };
                }

                workflowId = peek.WorkflowId;
            }

            var tx = await BeginAsync(connection, ct, io).ConfigureAwait(false);
            var workflow = await SingleAsync<WorkflowRecord>(connection, tx, Sql.LockWorkflow, new { Id = workflowId.Value }, ct, io)
                .ConfigureAwait(false);
            var execution = workflow is null
                ? null
                : await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockStepExecution, new { Id = executionId }, ct, io)
                    .ConfigureAwait(false);
            if (workflowIdHint is not null && (execution is null || execution.WorkflowId != workflowIdHint))
            {
                // The hint did not hold (a hand-made job, or rows gone): start over the careful way.
                await io.DisposeAsync(tx).ConfigureAwait(false);
                await io.DisposeAsync(connection).ConfigureAwait(false);
                return await LockExecutionAsync(executionId, null, ct, withLeaseClock, io).ConfigureAwait(false);
            }

            return new LockedExecution(connection, tx, workflow, execution,
                withLeaseClock && execution is not null ? await LeaseNowAsync(connection, tx, ct, io).ConfigureAwait(false) : null) { Io = io };
        }
        catch
        {
            await io.DisposeAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The locked rows, and the lease clock's time when asked for (null otherwise); released the way they were taken (<see cref="Io"/>).</summary>
    private sealed record LockedExecution(DbConnection Connection, DbTransaction? Transaction, WorkflowRecord? Workflow,
        StepExecutionRecord? Execution, DateTime? LeaseNow = null) : IAsyncDisposable
    {
        public StoreIo Io { get; init; }

        /// <summary>The batch that locked the rows also committed (a claim made in one round trip): nothing left to commit.</summary>
        public bool CommittedInBatch { get; init; }

        public async ValueTask DisposeAsync()
        {
            if (Transaction is not null)
            {
                await Io.DisposeAsync(Transaction).ConfigureAwait(false);
            }

            await Io.DisposeAsync(Connection).ConfigureAwait(false);
        }
    }

    private async Task<ControlResult> UnderWorkflowLockAsync(string command, long workflowId,
        Func<DbConnection, DbTransaction, WorkflowRecord, DateTime, Task<ControlResult>> action, CancellationToken ct,
        CallerTransaction? caller = null)
    {
        // The ids of jobs this process created and has not written yet are written first: a command reads the pending job's
        // id from the row, to delete that job after its commit.
        await JobIds.FlushAsync().ConfigureAwait(false);
        return caller is { } joined
            ? await UnderCallersLockAsync(workflowId, action, joined, ct).ConfigureAwait(false)
            : await ExactlyOnceAsync(command, workflowId, async (connection, tx, operation, token) =>
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
                await ExecutionOrNullAsync(connection, operation.EndedExecutionId, token).ConfigureAwait(false)), ct).ConfigureAwait(false);
    }

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
                var operation = new OperationRecord { OperationId = operationId, WorkflowId = workflowId, Command = command, CreatedAt = Now };
                T result;
                try
                {
                    result = await apply(connection, tx, operation, token).ConfigureAwait(false);
                }
                catch (Exception e) when (operation.CommittedByCommand && _dialect.IsTransient(e))
                {
                    // The batch carried the commit, and the connection failed under it: the commit may have happened.
                    unknown = true;
                    throw;
                }

                if (!operation.WrittenByCommand)
                {
                    await ExecuteAsync(connection, Command(Sql.InsertOperation, operation, tx, token)).ConfigureAwait(false);
                }

                unknown = true;
                await CommitAsync(tx, command, token, inBatch: operation.CommittedByCommand).ConfigureAwait(false);
                unknown = false;
                return result;
            }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (unknown && e is not OperationCanceledException)
        {
            throw new OperationOutcomeUnknownException(operationId, command, workflowId, e);
        }
    }

    /// <summary>The same change inside the caller's transaction: it commits (or rolls back) with the caller's own work; no retry here.</summary>
    private async Task<ControlResult> UnderCallersLockAsync(long workflowId,
        Func<DbConnection, DbTransaction, WorkflowRecord, DateTime, Task<ControlResult>> action, CallerTransaction caller, CancellationToken ct)
    {
        var workflow = await SingleAsync<WorkflowRecord>(caller.Connection, caller.Transaction, Sql.LockWorkflow, new { Id = workflowId }, ct)
            .ConfigureAwait(false) ?? throw new WorkflowNotFoundException(workflowId);
        return await action(caller.Connection, caller.Transaction, workflow, Now).ConfigureAwait(false);
    }

    private ValueTask<T?> SingleAsync<T>(DbConnection connection, DbTransaction? tx, SqlStatement sql, object parameters,
        CancellationToken ct, StoreIo io = default) =>
        io.SingleAsync<T>(connection, Command(sql, parameters, tx, ct));

    private async ValueTask<T> ScalarAsync<T>(DbConnection connection, DbTransaction tx, SqlStatement sql, object parameters,
        CancellationToken ct, StoreIo io = default) =>
        (await io.ScalarAsync<T>(connection, Command(sql, parameters, tx, ct)).ConfigureAwait(false))!;

    private Task<IReadOnlyList<T>> ListAsync<T>(SqlStatement sql, object parameters, CancellationToken ct) =>
        RetryAsync<IReadOnlyList<T>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return (await connection.QueryAsync<T>(Command(sql, parameters, null, token)).ConfigureAwait(false))
                .ToList();
        }, ct);

    private Task<T?> GetOneAsync<T>(SqlStatement sql, object parameters, CancellationToken ct) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await SingleAsync<T>(connection, null, sql, parameters, token).ConfigureAwait(false);
        }, ct);
}
