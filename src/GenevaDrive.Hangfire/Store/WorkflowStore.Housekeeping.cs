using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// What the reconciler and the cleanup job read and delete.
internal sealed partial class WorkflowStore
{
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
            await connection.ExecuteAsync(Command(SqlParameterCatalog.Statement(nameof(StorageStatements.CleanupSessionSetup), setup), null, null, ct)).ConfigureAwait(false);
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

            // Events too in row-bounded statements: a workflow may have received any number of them.
            while (await connection.ExecuteAsync(Command(Sql.DeleteEventsOfWorkflows, new { Ids = ids, Limit = CleanupChunk }, tx, ct)).ConfigureAwait(false)
                   == CleanupChunk)
            {
            }
            var workflows = await connection.ExecuteAsync(Command(Sql.DeleteWorkflows, new { Ids = ids }, tx, ct)).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new CleanupBatch(workflows, executions);
        }
        finally
        {
            if (_dialect.Sql.CleanupSessionReset is { } reset && connection.State == System.Data.ConnectionState.Open)
            {
                // Pooled connections keep session settings: hand this one back as it came.
                await connection.ExecuteAsync(Command(SqlParameterCatalog.Statement(nameof(StorageStatements.CleanupSessionReset), reset), null, null, CancellationToken.None)).ConfigureAwait(false);
            }
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
}
