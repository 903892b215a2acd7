using System.Collections.Concurrent;
using System.Data.Common;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// The claim a step job makes (its arguments name the workflow) in one round trip: the rows are locked, checked and written
/// by one batch when the execution is scheduled and its workflow ready; in every other state that batch writes nothing and
/// the claim decides as the two-round-trip claim does, in the same transaction.
/// </summary>
public sealed class StoreClaimRoundTripTests(string database) : StorageTestBase(database)
{
    [TestCase(false, TestName = "{m}(application clock)")]
    [TestCase(true, TestName = "{m}(database clock)")]
    public async Task HintedClaimOfAReadyWorkflow_IsOneStatementBeforeItsCommit_AndWritesWhatTheCarefulClaimWrites(bool databaseClock)
    {
        var store = new WorkflowStore(Db.Dialect, Clock, leasesOnDatabaseClock: databaseClock);
        var hinted = await StartAsync("hinted");
        var careful = await StartAsync("careful");
        var log = new ConcurrentQueue<(DbTransaction? Tx, string Sql)>();
        store.Statements = (tx, sql) => log.Enqueue((tx, sql));

        var claim = await store.ClaimAsync(hinted.FirstExecution!.Id, "job-1", Lease, workflowIdHint: hinted.Workflow.Id);
        store.Statements = null;
        var reference = await store.ClaimAsync(careful.FirstExecution!.Id, "job-2", Lease);

        var workflow = await WorkflowAsync(hinted.Workflow.Id);
        var execution = await ExecutionAsync(hinted.FirstExecution.Id);
        var referenceWorkflow = await WorkflowAsync(careful.Workflow.Id);
        var referenceExecution = await ExecutionAsync(careful.FirstExecution.Id);
        var statements = log.Where(e => e.Tx is not null && e.Sql != "BEGIN").Select(e => e.Sql).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(statements, Has.Count.EqualTo(1), "one batch between BEGIN and COMMIT:\n" + string.Join("\n", statements));
            if (Db.Dialect.Sql.CommitTransaction is { } commit)
            {
                Assert.That(statements[0], Does.EndWith(commit.Text), "where the storage commits in a batch, the claim's batch carries the commit");
            }

            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.InProgress));
            Assert.That(execution.LeaseToken, Is.EqualTo(claim.Execution!.LeaseToken).And.Not.Null);
            Assert.That(execution.JobId, Is.EqualTo("job-1"));
            Assert.That(execution.StartedAt, Is.EqualTo(referenceExecution.StartedAt));
            Assert.That(execution.HeartbeatAt, Is.EqualTo(referenceExecution.HeartbeatAt));
            Assert.That(claim.Execution.LeaseExpiresAt, Is.EqualTo(execution.LeaseExpiresAt), "the claim returns the lease as stored");
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That((workflow.CurrentStepName, workflow.NextStepName, workflow.UpdatedAt, workflow.TransitionedAt),
                Is.EqualTo((referenceWorkflow.CurrentStepName, referenceWorkflow.NextStepName, referenceWorkflow.UpdatedAt, referenceWorkflow.TransitionedAt)));
            Assert.That((claim.Workflow!.WorkflowState, claim.Workflow.CurrentStepName, claim.Workflow.UpdatedAt),
                Is.EqualTo((workflow.WorkflowState, workflow.CurrentStepName, workflow.UpdatedAt)), "the claim returns the workflow as stored");
        });

        if (databaseClock)
        {
            // The lease is dated by the database: it runs out one lease after the database's now, not the fake clock's.
            var stored = execution.LeaseExpiresAt!.Value;
            var fromDatabase = stored - DateTime.UtcNow;
            Assert.That(fromDatabase, Is.EqualTo(Lease).Within(TimeSpan.FromSeconds(30)), $"lease until {stored:O}");
            Assert.That(stored.Ticks % TimeSpan.TicksPerMillisecond, Is.Zero, "to the millisecond");
        }
        else
        {
            Assert.That(execution.LeaseExpiresAt, Is.EqualTo(Now + Lease));
        }
    }

    /// <summary>A workflow brought into one state; its execution id for the claim (the job that claims it: job-1).</summary>
    private delegate Task<long> Scenario(WorkflowStore store, string hero);

    private static readonly (string Name, Scenario Arrange)[] States =
    [
        ("paused before its step ran", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            await store.PauseAsync(created.Workflow.Id);
            return created.FirstExecution!.Id;
        }),
        ("canceled", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            await store.CancelAsync(created.Workflow.Id);
            return created.FirstExecution!.Id;
        }),
        ("running under another job's live lease", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            await store.ClaimAsync(created.FirstExecution!.Id, "job-0", Lease);
            return created.FirstExecution.Id;
        }),
        ("completed", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-0", Lease);
            await store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"));
            return created.FirstExecution.Id;
        }),
        ("failed, the workflow paused by this job", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease);
            await store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, FailedAndPaused("first"));
            return created.FirstExecution.Id;
        }),
        ("paused by this job's deletion", async (store, hero) =>
        {
            var created = await store.CreateAsync(Spec(hero));
            await store.SetJobIdAsync(created.FirstExecution!.Id, "job-1");
            await store.PauseAsync(created.Workflow.Id, pausedByJobId: "job-1");
            return created.FirstExecution.Id;
        }),
    ];

    [Test]
    public async Task HintedClaim_InEveryOtherState_DecidesAsTheCarefulClaim()
    {
        var store = new WorkflowStore(Db.Dialect, Clock, leasesOnDatabaseClock: true);
        foreach (var (name, arrange) in States)
        {
            var hintedId = await arrange(store, name + " hinted");
            var carefulId = await arrange(store, name + " careful");
            var hintedWorkflow = (await ExecutionAsync(hintedId)).WorkflowId;
            var carefulWorkflow = (await ExecutionAsync(carefulId)).WorkflowId;

            var hinted = await store.ClaimAsync(hintedId, "job-1", Lease, workflowIdHint: hintedWorkflow);
            var careful = await store.ClaimAsync(carefulId, "job-1", Lease);

            var hintedRows = await StatesAsync(hintedWorkflow);
            var carefulRows = await StatesAsync(carefulWorkflow);
            Assert.Multiple(() =>
            {
                Assert.That(hinted.Outcome, Is.EqualTo(careful.Outcome), $"{name}: {hinted.Reason} / {careful.Reason}");
                Assert.That(hintedRows, Is.EqualTo(carefulRows), name + ": the rows after the claim");
            });
        }
    }

    [Test]
    public async Task HintedClaim_AfterALiveLeaseRanOut_TakesOver_LikeTheCarefulClaim()
    {
        var store = new WorkflowStore(Db.Dialect, Clock);
        var hinted = await StartAsync("hinted");
        var careful = await StartAsync("careful");
        await store.ClaimAsync(hinted.FirstExecution!.Id, "job-0", Lease);
        await store.ClaimAsync(careful.FirstExecution!.Id, "job-0", Lease);
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        var takeover = await store.ClaimAsync(hinted.FirstExecution.Id, "job-1", Lease, workflowIdHint: hinted.Workflow.Id);
        var reference = await store.ClaimAsync(careful.FirstExecution.Id, "job-1", Lease);

        Assert.Multiple(async () =>
        {
            Assert.That(takeover.Outcome, Is.EqualTo(ClaimOutcome.TookOver), takeover.Reason);
            Assert.That(reference.Outcome, Is.EqualTo(ClaimOutcome.TookOver), reference.Reason);
            Assert.That(await StatesAsync(hinted.Workflow.Id), Is.EqualTo(await StatesAsync(careful.Workflow.Id)));
        });
    }

    [Test]
    public async Task HintedClaim_RepeatedAfterALostCommitAcknowledgement_FindsItsOwnLease_AndWritesNothingMore()
    {
        var store = new WorkflowStore(Db.Dialect, Clock, leasesOnDatabaseClock: true);
        var created = await StartAsync("lost-ack");
        var injected = 0;
        store.Faults = point => point == "claim.committed" && Interlocked.Increment(ref injected) == 1
            ? throw TransientFault()
            : Task.CompletedTask;

        var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: created.Workflow.Id);
        store.Faults = null;

        var rows = await StatesAsync(created.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(injected, Is.EqualTo(2), "the fault after the first commit, then the repeat's commit");
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That(claim.Execution!.Id, Is.EqualTo(created.FirstExecution.Id), "its own claim, not a takeover");
            Assert.That(claim.Workflow!.WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That(rows, Is.EqualTo(new[] { "performing", "first:in_progress:job-1" }));
            Assert.That((await ExecutionAsync(created.FirstExecution.Id)).LeaseToken, Is.EqualTo(claim.Execution.LeaseToken));
        });
    }

    [Test]
    public async Task HintedClaim_RepeatedAfterALostAcknowledgement_NeverMovesAWorkflowPausedInBetween()
    {
        // The first attempt committed; before its repeat an operator paused the performing workflow. The repeat must find
        // its own lease and leave the pause alone (the batch moves a workflow to performing only from ready).
        var store = new WorkflowStore(Db.Dialect, Clock, leasesOnDatabaseClock: true);
        var created = await StartAsync("paused-between");
        var injected = 0;
        store.Faults = async point =>
        {
            if (point == "claim.committed" && Interlocked.Increment(ref injected) == 1)
            {
                await Store.PauseAsync(created.Workflow.Id);
                throw TransientFault();
            }
        };

        var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: created.Workflow.Id);
        store.Faults = null;

        Assert.Multiple(async () =>
        {
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task Start_AndFinalize_SendTheirCommitWithTheirWrites_WhereTheStorageAllows()
    {
        var log = new ConcurrentQueue<(DbTransaction? Tx, string Sql)>();
        Store.Statements = (tx, sql) => log.Enqueue((tx, sql));
        var created = await StartAsync("batched");
        var start = Transaction(log);
        var claim = await Store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: created.Workflow.Id);
        log.Clear();
        var finalize = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"), workflowIdHint: created.Workflow.Id);
        var finish = Transaction(log);
        Store.Statements = null;

        // Committed: another connection sees both, and the pooled connection the batch committed on serves the next claim.
        var next = await Store.ClaimAsync(finalize.NextExecution!.Id, "job-2", Lease, workflowIdHint: created.Workflow.Id);
        var commit = Db.Dialect.Sql.CommitTransaction;
        Assert.Multiple(async () =>
        {
            Assert.That(await StatesAsync(created.Workflow.Id), Is.EqualTo(new[] { "performing", "first:completed:job-1", "second:in_progress:job-2" }));
            Assert.That(next.Outcome, Is.EqualTo(ClaimOutcome.Claimed), next.Reason);
            if (commit is null)
            {
                Assert.That(start, Has.Count.EqualTo(3), "workflow, execution and operation row:\n" + string.Join("\n", start));
                Assert.That(finish[^1], Does.Not.Contain("COMMIT"));
            }
            else
            {
                Assert.That(start, Has.Count.EqualTo(1), "one statement for the whole start:\n" + string.Join("\n", start));
                Assert.That(start[0], Does.EndWith(commit.Text), "the start's statement carries the commit");
                Assert.That(finish[^1], Does.EndWith(commit.Text), "the finalize's write batch carries the commit");
            }
        });
    }

    [TestCase("second", TestName = "{m}(to the next step)")]
    [TestCase(null, TestName = "{m}(finishing the workflow)")]
    public async Task HintedFinalize_OfTheCommonCase_WritesWhatTheCarefulFinalizeWrites_InOneStatement(string? next)
    {
        var (hinted, hintedClaim) = await StartAndClaimAsync("hinted");
        var (careful, carefulClaim) = await StartAndClaimAsync("careful");
        var log = new ConcurrentQueue<(DbTransaction? Tx, string Sql)>();
        Store.Statements = (tx, sql) => log.Enqueue((tx, sql));

        var result = await Store.FinalizeAsync(hintedClaim.Execution!.Id, hintedClaim.Execution.LeaseToken!, Success(next),
            workflowIdHint: hinted.Workflow.Id, stepNameHint: "first");
        var statements = Transaction(log);
        Store.Statements = null;
        var reference = await Store.FinalizeAsync(carefulClaim.Execution!.Id, carefulClaim.Execution.LeaseToken!, Success(next));

        var fast = Db.Dialect.Sql.FinishPerformingStepExecution is not null;
        var rows = await RowsAsync(hinted.Workflow.Id);
        var referenceRows = await RowsAsync(careful.Workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That((rows.Workflow, rows.Executions.Select(e => e.Row)), Is.EqualTo((referenceRows.Workflow, referenceRows.Executions.Select(e => e.Row))),
                "the same rows as the careful finalize");
            Assert.That((result.Workflow!.State, result.Workflow.NextStepName, result.Workflow.Type), Is.EqualTo((reference.Workflow!.State,
                reference.Workflow.NextStepName, reference.Workflow.Type)), "the same result");
            Assert.That(result.NextExecution?.Id, Is.EqualTo(next is null ? null : rows.Executions[^1].Id), "the next execution's id as inserted");
            Assert.That(statements, Has.Count.EqualTo(fast ? 1 : 2), "the statements of the transaction that wrote:\n" + string.Join("\n", statements));
        });
    }

    [Test]
    public async Task HintedFinalize_OfAWorkflowPausedOrALeaseLostMeanwhile_WritesNothingInItsBatch_AndDecidesAsBefore()
    {
        var (paused, pausedClaim) = await StartAndClaimAsync("paused");
        await Store.PauseAsync(paused.Workflow.Id);
        var (taken, takenClaim) = await StartAndClaimAsync("taken");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var takeover = await Store.ClaimAsync(taken.FirstExecution!.Id, "job-2", Lease);

        var changed = await Store.FinalizeAsync(pausedClaim.Execution!.Id, pausedClaim.Execution.LeaseToken!, Success("second"),
            workflowIdHint: paused.Workflow.Id, stepNameHint: "first");
        var lost = await Store.FinalizeAsync(takenClaim.Execution!.Id, takenClaim.Execution.LeaseToken!, Success("second"),
            workflowIdHint: taken.Workflow.Id, stepNameHint: "first");

        Assert.Multiple(async () =>
        {
            Assert.That(changed.Outcome, Is.EqualTo(FinalizeOutcome.WorkflowChangedOutside));
            Assert.That(await StatesAsync(paused.Workflow.Id), Is.EqualTo(new[] { "paused", "first:canceled:job-1" }));
            Assert.That(takeover.Outcome, Is.EqualTo(ClaimOutcome.TookOver), takeover.Reason);
            Assert.That(lost.Outcome, Is.EqualTo(FinalizeOutcome.LeaseLost));
            Assert.That(await StatesAsync(taken.Workflow.Id), Is.EqualTo(new[] { "performing", "first:failed:job-1", "first:in_progress:job-2" }),
                "the late finalize wrote nothing");
        });
    }

    [Test]
    public async Task HintedFinalize_RepeatedAfterALostCommitAcknowledgement_ScheduledTheNextStepOnce()
    {
        var (created, claim) = await StartAndClaimAsync("lost-ack");
        var injected = 0;
        Store.Faults = point => point == "finalize.committed" && Interlocked.Increment(ref injected) == 1 ? throw TransientFault() : Task.CompletedTask;

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"),
            workflowIdHint: created.Workflow.Id, stepNameHint: "first");
        Store.Faults = null;

        Assert.Multiple(async () =>
        {
            Assert.That(injected, Is.EqualTo(1), "the fault after the commit (the repeat recognises its own and commits nothing)");
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(await StatesAsync(created.Workflow.Id), Is.EqualTo(new[] { "ready", "first:completed:job-1", "second:scheduled:" }));
            Assert.That(result.NextExecution?.StepName, Is.EqualTo("second"), "the repeat returns the next execution to dispatch");
        });
    }

    /// <summary>The workflow and its executions, with the columns a finalize writes (times relative to nothing: the fake clock's).</summary>
    private async Task<(string Workflow, (long Id, string Row)[] Executions)> RowsAsync(long workflowId)
    {
        var workflow = await WorkflowAsync(workflowId);
        var history = await Store.GetHistoryAsync(workflowId);
        return ($"{workflow.State}|{workflow.CurrentStepName}|{workflow.NextStepName}|{workflow.PausedByJobId}|{workflow.StateReason}|{workflow.TransitionedAt:O}|{workflow.UpdatedAt:O}",
            history.Select(h => (h.Id, $"{h.StepName}|{h.State}|{h.Outcome}|{h.CompletedAt:O}|{h.FinishedAt:O}|{h.SkippedAt:O}|{h.ErrorClassName}|{h.Metadata}|" +
                $"{h.LeaseToken is not null}|{h.LeaseExpiresAt:O}|{h.ScheduledFor:O}|{h.Attempt}|{h.Cursor}|{h.JobId}|{h.UpdatedAt:O}|{h.CreatedAt:O}|" +
                $"{h.StartedAt:O}|{h.HeartbeatAt:O}|{h.DispatchedAt:O}|{h.WaitingFor}|{h.WaitUntil:O}|{h.FailedAt:O}|{h.CanceledAt:O}|{h.ErrorMessage}")).ToArray());
    }

    /// <summary>The statements of the last transaction in the log, after its BEGIN.</summary>
    private static List<string> Transaction(ConcurrentQueue<(DbTransaction? Tx, string Sql)> log)
    {
        var entries = log.ToList();
        var begin = entries.FindLastIndex(e => e.Sql == "BEGIN");
        return entries.Skip(begin + 1).Where(e => e.Tx is not null).Select(e => e.Sql).ToList();
    }

    /// <summary>The workflow's state, then each execution as step:state:job, oldest first.</summary>
    private async Task<string[]> StatesAsync(long workflowId)
    {
        var workflow = await WorkflowAsync(workflowId);
        var history = await Store.GetHistoryAsync(workflowId);
        return [workflow.State, .. history.Select(h => $"{h.StepName}:{h.State}:{h.JobId}")];
    }
}
