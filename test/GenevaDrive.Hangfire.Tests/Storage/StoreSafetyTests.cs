using System.Collections.Concurrent;
using System.Data.Common;
using System.Transactions;
using GenevaDrive.Execution;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Rules every database must keep: one lock order in every transaction, bounded columns that never fail a
/// write, no enlistment in a caller's ambient transaction, and parent-first cleanup.
/// </summary>
public sealed class StoreSafetyTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task EveryTransaction_TouchesTheWorkflowRowBeforeAnyExecutionRow()
    {
        var log = new ConcurrentQueue<(DbTransaction? Tx, string Sql)>();
        Store.Statements = (tx, sql) => log.Enqueue((tx, sql));

        // Every kind of transaction the store runs: start, claim, finalize with a next step, failure, retry,
        // takeover, recovery, pause, resume, skip, cancel, interruption and cleanup.
        var (created, claim) = await StartAndClaimAsync("order-1");
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"));
        var second = (await Store.GetCurrentExecutionAsync(created.Workflow.Id))!;
        var secondClaim = await Store.ClaimAsync(second.Id, "job-2", Lease);
        await Store.FinalizeAsync(secondClaim.Execution!.Id, secondClaim.Execution.LeaseToken!, FailedAndPaused("second"));
        var retry = await Store.ClaimAsync(second.Id, "job-2", Lease);
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        await Store.ClaimAsync(retry.Execution!.Id, "job-3", Lease);
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var stuck = (await Store.GetCurrentExecutionAsync(created.Workflow.Id))!;
        await Store.RecoverExpiredLeaseAsync(stuck.Id, reattempt: true);
        await Store.PauseAsync(created.Workflow.Id);
        await Store.ResumeAsync(created.Workflow.Id);
        await Store.SkipAsync(created.Workflow.Id, _ => new NextStep("third", TimeSpan.Zero));
        var third = (await Store.GetCurrentExecutionAsync(created.Workflow.Id))!;
        var thirdClaim = await Store.ClaimAsync(third.Id, "job-4", Lease);
        await Store.FinalizeAsync(third.Id, thirdClaim.Execution!.LeaseToken!,
            StepExecutor.Interrupted("third", "server stopping").Completion with { HandOverToJobId = "job-4" });
        await Store.CancelAsync(created.Workflow.Id);
        Clock.Advance(TimeSpan.FromDays(40));
        await Store.DeleteEndedWorkflowsBatchAsync(Now - TimeSpan.FromDays(30), 100);
        Store.Statements = null;

        // Providers reuse transaction objects, so transactions are told apart by their BEGIN.
        var transactions = new List<List<string>>();
        foreach (var (tx, sql) in log.Where(e => e.Tx is not null))
        {
            if (sql == "BEGIN")
            {
                transactions.Add([]);
            }
            else
            {
                transactions[^1].Add(sql);
            }
        }

        Assert.That(transactions, Has.Count.GreaterThanOrEqualTo(14), "every kind of transaction ran");
        foreach (var statements in transactions)
        {
            // A batch of several statements counts in its own order: the text of the whole transaction is searched.
            var text = string.Join("\n", statements);
            var firstWorkflow = text.IndexOf("Workflows", StringComparison.Ordinal);
            var firstExecution = text.IndexOf("StepExecutions", StringComparison.Ordinal);
            Assert.That(firstExecution < 0 || (firstWorkflow >= 0 && firstWorkflow < firstExecution), Is.True,
                "workflow row first, then execution rows, in:\n" + string.Join("\n", statements));
        }
    }

    [Test]
    public async Task Finalize_WithValuesLongerThanTheirColumns_NeverFails_AndStoresThemShortened()
    {
        var created = await StartAsync("long-values");
        var longJobId = new string('j', 300);
        var claim = await Store.ClaimAsync(created.FirstExecution!.Id, longJobId, Lease);
        var completion = FailedAndPaused("first") with { ErrorClassName = "Namespace." + new string('E', 1000) + "Exception" };

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, completion);

        var stored = await ExecutionAsync(claim.Execution.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(stored.ErrorClassName, Has.Length.EqualTo(ColumnLimits.ErrorClassNameLength));
            Assert.That(stored.JobId, Has.Length.EqualTo(ColumnLimits.JobIdLength));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).PausedByJobId, Has.Length.EqualTo(ColumnLimits.JobIdLength));
        });
    }

    [Test]
    public async Task InternalTransactions_DoNotEnlistInACallersAmbientTransactionScope()
    {
        long id;
        using (new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            id = (await Store.CreateAsync(Spec("ambient"))).Workflow.Id;
            // Disposed without Complete(): a caller's rollback must not take GenevaDrive's own commit with it.
        }

        Assert.That(await Store.GetWorkflowAsync(id), Is.Not.Null, "GenevaDrive's transaction committed on its own");
    }

    [Test]
    public async Task Cleanup_DeletesInRowBoundedStatements_AndCountsEveryExecution()
    {
        // More executions than one statement deletes, across a few workflows.
        var ids = new List<long>();
        for (var w = 0; w < 3; w++)
        {
            var created = await StartAsync($"busy-{w}");
            ids.Add(created.Workflow.Id);
            var current = created.FirstExecution!;
            for (var i = 0; i < 400; i++)
            {
                var claim = await Store.ClaimAsync(current.Id, $"job-{w}-{i}", Lease);
                var last = i == 399;
                var result = await Store.FinalizeAsync(current.Id, claim.Execution!.LeaseToken!,
                    last ? Success(null) : Reattempted("first", ReattemptReasons.FlowControl));
                current = result.NextExecution!;
            }
        }

        var log = new ConcurrentQueue<string>();
        Store.Statements = (_, sql) => log.Enqueue(sql);
        Clock.Advance(TimeSpan.FromDays(31));
        var batch = await Store.DeleteEndedWorkflowsBatchAsync(Now - TimeSpan.FromDays(30), 100);
        Store.Statements = null;

        var deletes = log.Count(s => s == Db.Dialect.Sql.DeleteStepExecutionsOfWorkflows.Text);
        Assert.Multiple(async () =>
        {
            Assert.That(batch.WorkflowsDeleted, Is.EqualTo(3));
            Assert.That(batch.StepExecutionsDeleted, Is.EqualTo(1200));
            Assert.That(deletes, Is.EqualTo(2), "1,200 executions in statements of at most 1,000 rows");
            Assert.That(log.First(s => s.Contains("Workflows", StringComparison.Ordinal)), Is.EqualTo(Db.Dialect.Sql.LockEndedWorkflowIds.Text),
                "the parent rows are locked before any execution is deleted");
            foreach (var id in ids)
            {
                Assert.That(await Store.GetWorkflowAsync(id), Is.Null);
            }
        });
    }
}
