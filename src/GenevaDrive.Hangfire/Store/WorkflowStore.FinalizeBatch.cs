using System.Data.Common;
using GenevaDrive.Execution;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

// The lease protocol, part 2b: the finalize of the common case in one round trip, where the storage allows it. A step that
// ran under its lease while its workflow stayed performing, and that moves the workflow to another step or finishes it
// (no event, gate, cursor or hand-over involved), needs nothing from the locked rows to decide what to write: one statement
// writes it under conditions the database checks. Anything else, and any repeat, takes the careful finalize in
// WorkflowStore.Finalize.cs.
internal sealed partial class WorkflowStore
{
    private SqlStatement? _finishPerforming;
    private SqlStatement? _finishPerformingAndNext;

    /// <summary>
    /// Whether the finalize's writes follow from <paramref name="completion"/> alone, so the database can check the
    /// conditions itself: the workflow moves to a step other than the one that ran (a first attempt of it) or finishes,
    /// and no cursor, timed-out wait, event, gate or hand-over is involved.
    /// </summary>
    private static bool DecidedByCompletionAlone(StepCompletion completion, string stepName) =>
        completion is { UnsavedCursor: null, TimedOut: null, ConsumeEventId: null, HandOverToJobId: null } &&
        completion.WorkflowState switch
        {
            WorkflowState.Finished => completion.Schedule is null,
            WorkflowState.Ready => completion.Schedule is { Gate: null } next && next.Name == completion.NextStepName &&
                                   next.Name != stepName && next.Name != completion.RanAs,
            _ => false,
        };

    /// <summary>
    /// The finalize in one round trip (<see cref="StorageStatements.FinishPerformingStepExecution"/>, with the commit where the
    /// storage commits in a batch): the applied result, or null when the storage has no such statement, the completion
    /// needs the locked rows, or the rows were not as the statement requires (it then wrote nothing) — the careful finalize
    /// follows.
    /// </summary>
    private async Task<FinalizeResult?> FinalizeInOneBatchAsync(long executionId, string leaseToken, StepCompletion completion, long workflowId,
        string stepName, CancellationToken ct, StoreIo io)
    {
        if (Sql.FinishPerformingStepExecution is not { } finishOnly || Sql.FinishPerformingStepExecutionAndScheduleNext is not { } finishAndNext ||
            !DecidedByCompletionAlone(completion, stepName))
        {
            return null;
        }

        var now = Now;
        var execution = new StepExecutionRecord
        {
            Id = executionId, WorkflowId = workflowId, StepName = stepName, State = StepExecutionState.InProgress.ToStored(),
        };
        execution.TransitionTo(completion.ExecutionState, now);
        execution.Outcome = completion.Outcome.ToStored();
        ApplyError(execution, completion);
        execution.Metadata = completion.Metadata;
        execution.LeaseToken = leaseToken;
        ColumnLimits.Apply(execution);
        var moved = new WorkflowRecord { Id = workflowId, State = WorkflowState.Performing.ToStored() };
        MoveOn(moved, completion, now);

        await using var connection = await OpenAsync(ct, io).ConfigureAwait(false);
        await using var tx = await BeginAsync(connection, ct, io).ConfigureAwait(false);
        // The statement writes the next execution as PrepareScheduledAsync makes a first, ungated attempt (checked by a test).
        var next = completion.Schedule is { } schedule && completion.WorkflowState == WorkflowState.Ready
            ? await PrepareScheduledAsync(connection, tx, workflowId, schedule.Name, now + schedule.Wait, now, ct, null, Succession.First, null, io,
                lookUpEvent: false).ConfigureAwait(false)
            : null;
        var statement = next is null ? _finishPerforming ??= Committing(finishOnly) : _finishPerformingAndNext ??= Committing(finishAndNext);
        WorkflowRecord? workflow = null;
        long? applied = null;
        StepExecutionRecord? closed = null;
        // Result sets in order: the workflow as it was, the id the conditional writes returned (or none), the execution now.
        await ReadResultSetsAsync(connection, Command(statement, new FinishParameters(execution, moved, now, next), tx, ct), io, async (index, reader) =>
        {
            switch (index)
            {
                case 0:
                    workflow = await ReadRowAsync<WorkflowRecord>(reader, io, ct).ConfigureAwait(false);
                    break;
                case 1:
                    applied = await io.ReadAsync(reader, ct).ConfigureAwait(false) ? IdOf(reader) : null;
                    break;
                default:
                    closed = await ReadRowAsync<StepExecutionRecord>(reader, io, ct).ConfigureAwait(false);
                    break;
            }
        }).ConfigureAwait(false);

        if (applied is not { } id || workflow is null || closed is null)
        {
            // Nothing was written (the lease, the workflow or the execution was not as required): the careful finalize decides.
            return null;
        }

        await CommitAsync(tx, "finalize", ct, io, inBatch: Sql.CommitTransaction is not null).ConfigureAwait(false);
        MoveOn(workflow, completion, now);
        if (next is not null)
        {
            next.Id = id;
        }

        return new FinalizeResult(FinalizeOutcome.Applied, workflow, closed, next);
    }

    /// <summary>The workflow after a step's completion moved it on (in memory): its new state, no current step, its next one.</summary>
    private static void MoveOn(WorkflowRecord workflow, StepCompletion completion, DateTime now)
    {
        TransitionWorkflow(workflow, completion.WorkflowState, now);
        workflow.CurrentStepName = null;
        workflow.NextStepName = completion.WorkflowState == WorkflowState.Finished ? null : completion.NextStepName;
        FitColumns(workflow);
    }
}
