using GenevaDrive.Execution;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Checkpoints of resumable steps and the logical attempt behind idempotency keys, in the store: a checkpoint is
/// accepted only under the live lease, and each new execution of a step inherits the attempt and the cursor.
/// </summary>
public sealed class StoreCheckpointTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task Checkpoint_UnderTheLease_SavesTheCursor_AndAStaleRunIsRefusedAfterATakeover()
    {
        var (created, claim) = await StartAndClaimAsync();
        var first = claim.Execution!;

        Assert.That(await Store.CheckpointAsync(first.Id, first.LeaseToken!, "41"), Is.True);
        Assert.That(await Store.CheckpointAsync(first.Id, first.LeaseToken!, "42"), Is.True);
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var takeover = await Store.ClaimAsync(first.Id, "job-2", Lease);
        var staleAccepted = await Store.CheckpointAsync(first.Id, first.LeaseToken!, "43");
        var closed = await Store.GetStepExecutionAsync(first.Id);
        var successor = takeover.Execution!;
        var successorAccepted = await Store.CheckpointAsync(successor.Id, successor.LeaseToken!, "50");

        Assert.Multiple(async () =>
        {
            Assert.That(takeover.Outcome, Is.EqualTo(ClaimOutcome.TookOver), takeover.Reason);
            Assert.That(staleAccepted, Is.False, "the frozen run's late checkpoint is refused");
            Assert.That(closed!.Cursor, Is.EqualTo("42"), "and changed nothing");
            Assert.That(closed.Checkpoints, Is.EqualTo(2));
            Assert.That(successor.Cursor, Is.EqualTo("42"), "the attempt that took over starts from the saved cursor");
            Assert.That(successor.Attempt, Is.EqualTo(1), "a takeover continues the same logical attempt");
            Assert.That(successorAccepted, Is.True);
            Assert.That((await Store.GetStepExecutionAsync(successor.Id))!.Cursor, Is.EqualTo("50"));
            Assert.That(created.Workflow.Id, Is.EqualTo(successor.WorkflowId));
        });
    }

    [Test]
    public async Task RowsWrittenBeforeTheAttemptColumns_ReadAsAFirstAttemptWithoutCheckpoints_AndCheckpointFromThere()
    {
        // SQL Server's migration 6 adds Attempt and Checkpoints as nullable columns with defaults (no table rewrite), so rows
        // written before it read NULL. The same shape here: both columns nullable, and a scheduled row from before nulled.
        var table = Db.Table("StepExecutions");
        if (Database == "sqlite")
        {
            await Db.ExecuteAsync($"ALTER TABLE {table} DROP COLUMN \"Attempt\"; ALTER TABLE {table} ADD COLUMN \"Attempt\" INTEGER NULL DEFAULT 1; " +
                $"ALTER TABLE {table} DROP COLUMN \"Checkpoints\"; ALTER TABLE {table} ADD COLUMN \"Checkpoints\" INTEGER NULL DEFAULT 0;");
        }
        else
        {
            await Db.ExecuteAsync($"ALTER TABLE {table} ALTER COLUMN \"Attempt\" DROP NOT NULL, ALTER COLUMN \"Checkpoints\" DROP NOT NULL;");
        }

        var created = await StartAsync();
        var id = created.FirstExecution!.Id;
        await Db.ExecuteAsync($"UPDATE {table} SET \"Attempt\" = NULL, \"Checkpoints\" = NULL WHERE \"Id\" = @Id", new { Id = id });
        var claim = await Store.ClaimAsync(id, "job-1", Lease);
        var token = claim.Execution!.LeaseToken!;
        var checkpointed = await Store.CheckpointAsync(id, token, "7");
        var beat = await Store.HeartbeatAsync(id, created.Workflow.Id, token, Lease, cursor: "8", checkpoints: 1);
        var saved = await Store.GetStepExecutionAsync(id);
        var reattempt = await Store.FinalizeAsync(id, token, Reattempted("first", "try again"));

        Assert.Multiple(() =>
        {
            Assert.That(claim.Execution.Attempt, Is.EqualTo(1), "a missing attempt reads as the first");
            Assert.That(checkpointed, Is.True);
            Assert.That(beat, Is.Null, "the heartbeat renewed the lease");
            Assert.That(saved!.Checkpoints, Is.EqualTo(1), "the first checkpoint counts from none");
            Assert.That(saved.Cursor, Is.EqualTo("8"), "the heartbeat saw the count it expected and saved its cursor");
            Assert.That(reattempt.NextExecution!.Attempt, Is.EqualTo(2), "a reattempt after it is the second");
        });
    }

    [Test]
    public async Task Checkpoint_OfAnEndedAttempt_IsRefused()
    {
        var (_, claim) = await StartAndClaimAsync();
        var execution = claim.Execution!;
        await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, Success("second"));

        Assert.That(await Store.CheckpointAsync(execution.Id, execution.LeaseToken!, "1"), Is.False,
            "the finalized attempt keeps its token on the row, but it is no longer in progress");
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Reattempt_StartsTheNextLogicalAttempt_AndCarriesTheCursorUnlessItRewinds(bool rewind)
    {
        var (_, claim) = await StartAndClaimAsync();
        var execution = claim.Execution!;
        await Store.CheckpointAsync(execution.Id, execution.LeaseToken!, "{\"After\":7}");

        var result = await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, new StepCompletion
        {
            ExecutionState = StepExecutionState.Completed,
            Outcome = StepOutcome.Reattempted,
            WorkflowState = WorkflowState.Ready,
            NextStepName = "first",
            Schedule = new NextStep("first", TimeSpan.Zero),
            RewindCursor = rewind,
        });
        var next = result.NextExecution!;

        Assert.Multiple(() =>
        {
            Assert.That(next.Attempt, Is.EqualTo(2), "a reattempt is a new logical attempt");
            Assert.That(next.Cursor, Is.EqualTo(rewind ? null : "{\"After\":7}"));
            Assert.That(next.Checkpoints, Is.Zero, "checkpoints are counted per execution");
        });
    }

    [Test]
    public async Task Interruption_ContinuesTheSameAttempt_AndResumeAfterAnOutsidePauseInheritsTheCursor()
    {
        var (created, claim) = await StartAndClaimAsync();
        var execution = claim.Execution!;
        await Store.CheckpointAsync(execution.Id, execution.LeaseToken!, "3");
        var interrupted = await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, StepExecutor.Interrupted("first", "test").Completion);
        var second = interrupted.NextExecution!;
        var secondClaim = await Store.ClaimAsync(second.Id, "job-2", Lease);
        await Store.CheckpointAsync(second.Id, secondClaim.Execution!.LeaseToken!, "5");
        await Store.PauseAsync(created.Workflow.Id);
        await Store.FinalizeAsync(second.Id, secondClaim.Execution.LeaseToken!, StepExecutor.Interrupted("first", "paused").Completion);
        var resumed = await Store.ResumeAsync(created.Workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(second.Attempt, Is.EqualTo(1));
            Assert.That(second.Cursor, Is.EqualTo("3"));
            Assert.That(resumed.Execution!.StepName, Is.EqualTo("first"));
            Assert.That(resumed.Execution.Cursor, Is.EqualTo("5"), "Resume schedules the step again from the cursor saved before the pause");
            Assert.That(resumed.Execution.Attempt, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task RetryOfAFailedStep_IsANewAttempt_ThatKeepsTheCursor()
    {
        var (_, claim) = await StartAndClaimAsync();
        var execution = claim.Execution!;
        await Store.CheckpointAsync(execution.Id, execution.LeaseToken!, "9");
        await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, FailedAndPaused("first"));

        var retry = await Store.ClaimAsync(execution.Id, "job-1", Lease);

        Assert.Multiple(() =>
        {
            Assert.That(retry.Outcome, Is.EqualTo(ClaimOutcome.Retried), retry.Reason);
            Assert.That(retry.Execution!.Attempt, Is.EqualTo(2));
            Assert.That(retry.Execution.Cursor, Is.EqualTo("9"));
        });
    }
}
