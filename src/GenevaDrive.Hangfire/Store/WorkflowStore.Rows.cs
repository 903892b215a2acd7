using System.Data;
using System.Data.Common;
using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// Row-level helpers every transaction shares: state transitions, scheduling the next execution, the updates, column
// limits.
internal sealed partial class WorkflowStore
{
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
        WaitGate? gate, StoreIo io = default, bool lookUpEvent = true)
    {
        var from = succession ?? Succession.First;
        gate ??= from.Gate;
        string? metadata = null;
        DateTime? waitUntil = null;
        if (gate is not null)
        {
            var gateMetadata = StepExecutionMetadata.Empty;
            gateMetadata.Wait = (gate.Timeout, gate.OnTimeout);
            gateMetadata.Children = gate.Children;
            metadata = gateMetadata.ToJson();
            waitUntil = gate.Until;
            if (gate.Until is not null && lookUpEvent &&
                await SingleAsync<WorkflowEventRecord>(connection, tx, Sql.SelectUnconsumedEvent, new { WorkflowId = workflowId, Name = gate.EventName }, ct, io)
                    .ConfigureAwait(false) is not null)
            {
                // The event came before the workflow reached the wait: the step runs now and takes it.
                scheduledFor = now;
            }
            else if (gate is { Until: not null, Children: { } children } && lookUpEvent &&
                     children.Judge(await CountChildrenAsync(connection, tx, workflowId, children.Group, ct, io).ConfigureAwait(false)).Kind !=
                     ChildrenVerdictKind.NotYet)
            {
                // Under the parent's lock, which a child's end takes too: the children already decide the wait, so the step
                // runs now rather than wait for a wake-up that came before it was armed.
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
    private static async Task<long> ReadInsertedIdAsync(DbConnection connection, CommandDefinition command, StoreIo io = default)
    {
        var reader = await io.ExecuteReaderAsync(connection, command).ConfigureAwait(false);
        try
        {
            long? id = null;
            do
            {
                // Statements without rows (the updates) come first in some providers' result sets; the insert's id is the one row.
                while (reader.FieldCount > 0 && await io.ReadAsync(reader, command.CancellationToken).ConfigureAwait(false))
                {
                    id = IdOf(reader);
                }
            }
            while (await io.NextResultAsync(reader, command.CancellationToken).ConfigureAwait(false));

            return id ?? throw NoInsertedId();
        }
        finally
        {
            await io.DisposeAsync(reader).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs a batch and hands each result set that has columns to <paramref name="read"/> with its position among them (the
    /// writes of a batch return none, or an empty one depending on the provider).
    /// </summary>
    private static async Task ReadResultSetsAsync(DbConnection connection, CommandDefinition command, StoreIo io, Func<int, DbDataReader, ValueTask> read)
    {
        var reader = await io.ExecuteReaderAsync(connection, command).ConfigureAwait(false);
        try
        {
            var index = 0;
            do
            {
                if (reader.FieldCount > 0)
                {
                    await read(index++, reader).ConfigureAwait(false);
                }
            }
            while (await io.NextResultAsync(reader, command.CancellationToken).ConfigureAwait(false));
        }
        finally
        {
            await io.DisposeAsync(reader).ConfigureAwait(false);
        }
    }

    private static async ValueTask<T?> ReadRowAsync<T>(DbDataReader reader, StoreIo io, CancellationToken ct) =>
        await io.ReadAsync(reader, ct).ConfigureAwait(false) ? reader.GetRowParser<T>()(reader) : default;

    private static long IdOf(IDataRecord row) => Convert.ToInt64(row.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);

    private static InvalidOperationException NoInsertedId() => new("The insert of the next step execution returned no id.");

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
            return metadata.ConsumedEvent is null && metadata.Wait is { } wait
                ? new WaitGate(eventName, wait.Timeout, wait.OnTimeout, Children: metadata.Children)
                : null;
        }
    }

    private ValueTask<int> UpdateAsync(DbConnection connection, DbTransaction tx, StepExecutionRecord execution, CancellationToken ct,
        StoreIo io = default)
    {
        ColumnLimits.Apply(execution);
        return io.ExecuteAsync(connection, Command(Sql.UpdateStepExecution, execution, tx, ct));
    }

    private ValueTask<int> UpdateAsync(DbConnection connection, DbTransaction tx, WorkflowRecord workflow, CancellationToken ct,
        StoreIo io = default)
    {
        FitColumns(workflow);
        return io.ExecuteAsync(connection, Command(Sql.UpdateWorkflow, workflow, tx, ct));
    }

    private static void FitColumns(WorkflowRecord workflow)
    {
        workflow.PausedByJobId = workflow.PausedByJobId is null ? null : ColumnLimits.JobId(workflow.PausedByJobId);
        workflow.StateReason = ColumnLimits.Fit(workflow.StateReason, ColumnLimits.StateReasonLength);
    }
}
