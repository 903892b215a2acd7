using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// External events: delivery (exactly once, waking a waiting step, telling the sender the exact outcome) and the reads
// of a workflow's events.
internal sealed partial class WorkflowStore
{
    /// <summary>
    /// Delivers an event to a workflow in one transaction: keeps it (unless a delivery with the same name and key
    /// came before, or the workflow has ended), and when the workflow's scheduled step waits for it, moves that
    /// step to now. The caller dispatches the woken step's job after the commit.
    /// </summary>
    public async Task<EventDeliveryRecord> DeliverEventAsync(long workflowId, string name, string eventKey, string? payload, string? traceParent,
        CancellationToken ct = default)
    {
        // As a control command does: the woken execution's job id, read from the row, moves that job to its queue.
        await JobIds.FlushAsync().ConfigureAwait(false);
        return await ExactlyOnceAsync("event", workflowId, async (connection, tx, operation, token) =>
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
        }, ct).ConfigureAwait(false);
    }

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

    private async Task MoveToNowAsync(DbConnection connection, DbTransaction tx, StepExecutionRecord active, DateTime now, CancellationToken ct,
        StoreIo io = default)
    {
        if (active.ScheduledFor > now)
        {
            active.ScheduledFor = now;
            active.UpdatedAt = now;
            await UpdateAsync(connection, tx, active, ct, io).ConfigureAwait(false);
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
}
