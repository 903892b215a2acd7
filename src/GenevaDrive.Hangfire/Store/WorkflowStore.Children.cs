using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// Child workflows: a parent's step starts them in batches (each once, whatever is repeated), a child's end or pause may wake
// the parent's WaitForChildren step (in the child's own transaction, under the parent's lock), and the reads behind the wait,
// the parent's outcomes and the dashboard.
internal sealed partial class WorkflowStore
{
    /// <summary>
    /// Starts children of <paramref name="parentId"/>'s step <paramref name="group"/> in one transaction: each spec whose hero has
    /// no child in the group yet gets a workflow and its first execution. A repeat (a retry after a lost acknowledgement, or the
    /// step's next attempt after a crash) finds the children already started and starts only the rest; the unique index on
    /// (parent, group, hero) refuses a second one whatever races. Returns the children to dispatch: those this call created,
    /// and those an earlier try created whose first step has no job yet.
    /// </summary>
    /// <exception cref="WorkflowAlreadyExistsException">A hero already has an ongoing workflow of the child's type outside this group.</exception>
    public Task<IReadOnlyList<CreatedWorkflow>> StartChildrenAsync(long parentId, string group, IReadOnlyList<NewWorkflow> children,
        CancellationToken ct = default) =>
        RetryAsync<IReadOnlyList<CreatedWorkflow>>(async token =>
        {
            await InjectAsync("children.begin").ConfigureAwait(false);
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            await using var tx = await BeginAsync(connection, token).ConfigureAwait(false);
            var created = new List<CreatedWorkflow>(children.Count);
            foreach (var spec in children)
            {
                if (await SingleAsync<WorkflowRecord>(connection, tx, Sql.SelectChildOfGroup,
                        new { ParentWorkflowId = parentId, ParentStepName = group, spec.HeroType, spec.HeroId }, token).ConfigureAwait(false) is { } found)
                {
                    // Started by an earlier try (a lost commit acknowledgement, or an attempt that stopped before its checkpoint):
                    // not again, but handed back for dispatch while its first step still has no job.
                    if (await SingleAsync<StepExecutionRecord>(connection, tx, Sql.SelectActiveStepExecution, new { WorkflowId = found.Id }, token)
                            .ConfigureAwait(false) is { State: "scheduled", JobId: null } undispatched)
                    {
                        created.Add(new CreatedWorkflow(found, undispatched));
                    }

                    continue;
                }

                var child = spec with { ParentWorkflowId = parentId, ParentStepName = group };
                try
                {
                    created.Add(await InsertWorkflowAsync(connection, tx, child, token).ConfigureAwait(false));
                }
                catch (Exception e) when (_dialect.IsUniqueViolation(e))
                {
                    await tx.RollbackAsync(token).ConfigureAwait(false);
                    throw await AlreadyExistsAsync(connection, null, spec, e, token).ConfigureAwait(false);
                }
            }

            await CommitAsync(tx, "children", token).ConfigureAwait(false);
            return created;
        }, ct);

    /// <summary>How many children of the group stand in each state, in the caller's transaction.</summary>
    private async Task<ChildCounts> CountChildrenAsync(DbConnection connection, DbTransaction? tx, long parentId, string group, CancellationToken ct,
        StoreIo io = default)
    {
        var rows = new List<(string, long)>();
        await ReadResultSetsAsync(connection, Command(Sql.CountChildrenByState, new { ParentWorkflowId = parentId, ParentStepName = group }, tx, ct), io,
            async (_, reader) =>
            {
                while (await io.ReadAsync(reader, ct).ConfigureAwait(false))
                {
                    rows.Add((reader.GetString(0), Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture)));
                }
            }).ConfigureAwait(false);
        return ChildCounts.From(rows);
    }

    /// <summary>How many children of <paramref name="parentId"/>'s step <paramref name="group"/> stand in each state.</summary>
    public Task<ChildCounts> CountChildrenAsync(long parentId, string group, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await CountChildrenAsync(connection, null, parentId, group, token).ConfigureAwait(false);
        }, ct);

    /// <summary>The counts of every group of the parent's children (the dashboard's parent page), by the step that started them.</summary>
    public Task<IReadOnlyDictionary<string, ChildCounts>> CountChildrenOfParentAsync(long parentId, CancellationToken ct = default) =>
        RetryAsync<IReadOnlyDictionary<string, ChildCounts>>(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var rows = await connection.QueryAsync<(string Group, string State, long Count)>(
                Command(Sql.CountChildrenOfParent, new { ParentWorkflowId = parentId }, null, token)).ConfigureAwait(false);
            return rows.GroupBy(r => r.Group, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => ChildCounts.From(g.Select(r => (r.State, r.Count))), StringComparer.Ordinal);
        }, ct);

    /// <summary>Each child of the group with its state, reason and recorded result, oldest first.</summary>
    public async Task<IReadOnlyList<ChildOutcome>> GetChildOutcomesAsync(long parentId, string group, CancellationToken ct = default)
    {
        var rows = await ListAsync<(long Id, string HeroId, string State, string? StateReason, string? Result)>(Sql.SelectChildOutcomes,
            new { ParentWorkflowId = parentId, ParentStepName = group }, ct).ConfigureAwait(false);
        return rows.Select(r => new ChildOutcome(r.Id, r.HeroId, StateNames.ParseWorkflowState(r.State), r.StateReason, r.Result)).ToList();
    }

    /// <summary>A page of the parent's children, newest first.</summary>
    public Task<IReadOnlyList<WorkflowRecord>> GetChildrenPageAsync(long parentId, int offset, int limit, CancellationToken ct = default) =>
        ListAsync<WorkflowRecord>(Sql.SelectChildrenPage, new { ParentWorkflowId = parentId, Offset = offset, Limit = limit }, ct);

    /// <summary>The parent's ongoing children (id and the step that started each), oldest first, at most <paramref name="limit"/>.</summary>
    public Task<IReadOnlyList<(long Id, string Group)>> GetOngoingChildrenAsync(long parentId, int limit, CancellationToken ct = default) =>
        ListAsync<(long Id, string Group)>(Sql.SelectOngoingChildIds, new { ParentWorkflowId = parentId, Limit = limit }, ct);

    /// <summary>Ongoing children whose parent is canceled, by id after <paramref name="afterId"/> (the cascade's backstop).</summary>
    public Task<IReadOnlyList<(long Id, long ParentId, string Group, string ParentType)>> GetOrphanedChildrenAsync(long afterId, int limit,
        CancellationToken ct = default) =>
        ListAsync<(long Id, long ParentId, string Group, string ParentType)>(Sql.SelectOrphanedChildIds, new { AfterId = afterId, Limit = limit }, ct);

    /// <summary>Records the workflow's result (JSON) for its parent to read; a later call replaces it.</summary>
    public Task RecordResultAsync(long workflowId, string? json, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteAsync(Command(Sql.UpdateWorkflowResult, new { Id = workflowId, Result = json, Now }, null, token))
                .ConfigureAwait(false);
        }, ct);

    /// <summary>The result the workflow recorded (JSON), or null.</summary>
    public Task<string?> GetResultAsync(long workflowId, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await connection.ExecuteScalarAsync<string?>(Command(Sql.SelectWorkflowResult, new { Id = workflowId }, null, token))
                .ConfigureAwait(false);
        }, ct);

    /// <summary>
    /// Tells the parent of <paramref name="child"/> that the child ended or paused, in the child's transaction (after the child's
    /// row is locked; the parent's row is locked second, so children that end at the same moment take turns): when the parent's
    /// scheduled step waits for the child's group and this change may decide the wait, the gate's event is recorded (once per
    /// armed execution, by its key) and the step moves to now. Returns the woken parent for the caller to dispatch after the
    /// commit (a lost dispatch costs latency only: the step's own job runs at the wait's timeout and judges the counts then).
    /// </summary>
    private async Task<WokenParent?> NotifyParentAsync(DbConnection connection, DbTransaction tx, WorkflowRecord child, DateTime now,
        CancellationToken ct, StoreIo io = default)
    {
        if (child is not { ParentWorkflowId: { } parentId, ParentStepName: { } group } ||
            child.WorkflowState is not (WorkflowState.Finished or WorkflowState.Canceled or WorkflowState.Paused))
        {
            return null;
        }

        var parent = await SingleAsync<WorkflowRecord>(connection, tx, Sql.LockWorkflow, new { Id = parentId }, ct, io).ConfigureAwait(false);
        if (parent is not { State: "ready" })
        {
            return null;
        }

        var waiting = await SingleAsync<StepExecutionRecord>(connection, tx, Sql.LockActiveStepExecution, new { WorkflowId = parentId }, ct, io)
            .ConfigureAwait(false);
        if (waiting is not { State: "scheduled", WaitingFor: { } gateName } || gateName != ChildrenGate.EventNameOf(group) ||
            waiting.ParsedMetadata.Children is not { } gate || waiting.ScheduledFor <= now)
        {
            return null;
        }

        var wakes = await gate.WokenByAsync(child.WorkflowState,
            async () => await SingleAsync<long?>(connection, tx, Sql.SelectOngoingChildOtherThan,
                new { ParentWorkflowId = parentId, ParentStepName = group, ChildId = child.Id }, ct, io).ConfigureAwait(false) is not null,
            async minimum => await ScalarAsync<long>(connection, tx, Sql.CountFinishedChildrenUpTo,
                new { ParentWorkflowId = parentId, ParentStepName = group, ChildId = child.Id, Limit = minimum }, ct, io).ConfigureAwait(false)).ConfigureAwait(false);
        if (!wakes)
        {
            return null;
        }

        var key = $"wake-{waiting.Id}";
        if (await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectEventByKey, new { WorkflowId = parentId, Name = gateName, EventKey = key }, ct, io)
                .ConfigureAwait(false) is null)
        {
            await ScalarAsync<long>(connection, tx, Sql.InsertEvent, new WorkflowEventRecord
            {
                WorkflowId = parentId, Name = gateName, EventKey = key, CreatedAt = now,
                Payload = $"{{\"child\":{child.Id},\"state\":\"{child.State}\"}}",
            }, ct, io).ConfigureAwait(false);
        }

        await MoveToNowAsync(connection, tx, waiting, now, ct, io).ConfigureAwait(false);
        return new WokenParent(parent, waiting);
    }
}
