using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// The read model: workflows, executions, pages, counts, and the history facts the executor asks for.
internal sealed partial class WorkflowStore
{
    /// <summary>
    /// How many times in a row the step was reattempted because of exceptions (policy or precondition)
    /// since it last succeeded or was skipped. Reattempts the step asked for itself do not count.
    /// </summary>
    public async Task<int> CountExceptionReattemptsAsync(long workflowId, string stepName, CancellationToken ct = default) =>
        (await ReattemptMetadataSinceLastSuccessAsync(workflowId, stepName, ct).ConfigureAwait(false))
        .Count(m => ReattemptReasons.CountsTowardLimit(StepExecutionMetadata.Parse(m).ReattemptReason));

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

    /// <summary>How many executions of each of <paramref name="workflowIds"/> ended reattempted (absent: none); for the dashboard's list.</summary>
    public async Task<IReadOnlyDictionary<long, long>> CountReattemptsByWorkflowAsync(IReadOnlyCollection<long> workflowIds, CancellationToken ct = default) =>
        workflowIds.Count == 0
            ? new Dictionary<long, long>()
            : (await ListAsync<ReattemptCount>(Sql.CountReattemptsByWorkflow, new { Ids = workflowIds.ToArray() }, ct).ConfigureAwait(false))
                .ToDictionary(row => row.WorkflowId, row => row.Count);

    /// <summary>
    /// Ongoing workflows whose current step is on logical attempt <paramref name="fromAttempt"/> or later (it failed or was
    /// reattempted that often), newest first: the dashboard's "flapping" list. Read through the active executions only.
    /// </summary>
    public Task<IReadOnlyList<WorkflowRecord>> GetFlappingAsync(int fromAttempt, int offset, int limit, CancellationToken ct = default) =>
        ListAsync<WorkflowRecord>(Sql.SelectFlappingWorkflows, new { Attempt = fromAttempt, Offset = offset, Limit = limit }, ct);

    private sealed class ReattemptCount
    {
        public long WorkflowId { get; set; }

        public long Count { get; set; }
    }

    public Task<WorkflowRecord?> GetWorkflowAsync(long id, CancellationToken ct = default) =>
        GetOneAsync<WorkflowRecord>(Sql.SelectWorkflow, new { Id = id }, ct);

    public async Task<StepExecutionRecord?> GetStepExecutionAsync(long id, CancellationToken ct = default)
    {
        // Job ids recorded by this process and not yet written are written first, so a caller reads what it did.
        await JobIds.FlushAsync().ConfigureAwait(false);
        return await GetOneAsync<StepExecutionRecord>(Sql.SelectStepExecution, new { Id = id }, ct).ConfigureAwait(false);
    }

    public async Task<StepExecutionRecord?> GetCurrentExecutionAsync(long workflowId, CancellationToken ct = default)
    {
        // Job ids recorded by this process and not yet written are written first, so a caller reads what it did.
        await JobIds.FlushAsync().ConfigureAwait(false);
        return await GetOneAsync<StepExecutionRecord>(Sql.SelectActiveStepExecution, new { WorkflowId = workflowId }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<StepExecutionRecord>> GetHistoryAsync(long workflowId, CancellationToken ct = default)
    {
        // Job ids recorded by this process and not yet written are written first, so a caller reads what it did.
        await JobIds.FlushAsync().ConfigureAwait(false);
        return await ListAsync<StepExecutionRecord>(Sql.SelectStepExecutionHistory, new { WorkflowId = workflowId }, ct).ConfigureAwait(false);
    }

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
}
