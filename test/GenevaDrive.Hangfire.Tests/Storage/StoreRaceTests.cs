using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>Races on real databases, many connections at once: the database rules must hold.</summary>
public sealed class StoreRaceTests(string database) : StorageTestBase(database)
{
    private const int Contenders = 16;

    [Test]
    public async Task ConcurrentClaimsOfOneExecution_ExactlyOneWins()
    {
        for (var round = 0; round < 5; round++)
        {
            var created = await StartAsync($"hero{round}");
            using var start = new ManualResetEventSlim();
            var claims = Enumerable.Range(0, Contenders).Select(i => Task.Run(async () =>
            {
                start.Wait();
                return await Store.ClaimAsync(created.FirstExecution!.Id, $"job-{i}", Lease);
            })).ToArray();
            start.Set();

            var results = await Task.WhenAll(claims);

            var winners = results.Where(r => r.IsClaimed).ToArray();
            Assert.Multiple(async () =>
            {
                Assert.That(winners, Has.Length.EqualTo(1), string.Join("; ", results.Select(r => r.Reason)));
                Assert.That(results.Count(r => r.Outcome == ClaimOutcome.LeaseHeld), Is.EqualTo(Contenders - 1));
                Assert.That((await ExecutionAsync(created.FirstExecution!.Id)).JobId, Is.EqualTo(winners[0].Execution!.JobId));
                Assert.That(await Store.GetHistoryAsync(created.Workflow.Id), Has.Count.EqualTo(1));
            });
            TestContext.Out.WriteLine($"{Database} round {round}: 1 claimed, {Contenders - 1} refused with a live lease");
        }
    }

    [Test]
    public async Task ConcurrentStartsForOneHero_CreateExactlyOneWorkflow()
    {
        using var start = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, Contenders).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            try
            {
                return (Id: (await StartAsync("contended")).Workflow.Id, Existing: (long?)null);
            }
            catch (WorkflowAlreadyExistsException e)
            {
                return (Id: 0L, Existing: e.ExistingWorkflowId);
            }
        })).ToArray();
        start.Set();

        var results = await Task.WhenAll(attempts);

        var created = results.Where(r => r.Id != 0).ToArray();
        Assert.Multiple(async () =>
        {
            Assert.That(created, Has.Length.EqualTo(1));
            Assert.That(results.Where(r => r.Id == 0).Select(r => r.Existing), Is.All.EqualTo(created[0].Id));
            Assert.That(await Store.GetByHeroAsync("User", "contended"), Has.Count.EqualTo(1));
        });
        TestContext.Out.WriteLine($"{Database}: 1 created, {Contenders - 1} told the existing id {created[0].Id}");
    }

    [Test]
    public async Task ClaimRacingExternalCancel_EndsInOneConsistentOutcome()
    {
        var claimedFirst = 0;
        var canceledFirst = 0;
        for (var round = 0; round < 20; round++)
        {
            var created = await StartAsync($"race{round}");
            using var start = new ManualResetEventSlim();
            var claim = Task.Run(async () =>
            {
                start.Wait();
                return await Store.ClaimAsync(created.FirstExecution!.Id, "job", Lease);
            });
            var cancel = Task.Run(async () =>
            {
                start.Wait();
                try
                {
                    await Store.CancelAsync(created.Workflow.Id);
                    return true;
                }
                catch (InvalidWorkflowStateException)
                {
                    return false;
                }
            });
            start.Set();
            var (claimResult, canceled) = (await claim, await cancel);

            var workflow = await WorkflowAsync(created.Workflow.Id);
            var execution = await ExecutionAsync(created.FirstExecution!.Id);
            if (claimResult.IsClaimed)
            {
                claimedFirst++;
                Assert.Multiple(() =>
                {
                    // A performing workflow may be canceled: the cancel is recorded at once and the running
                    // attempt keeps its row until it finishes (its heartbeat and finalize carry the cancel).
                    Assert.That(canceled, Is.True, "canceling a running workflow is allowed");
                    Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
                    Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.InProgress), "the attempt is closed by its own finalize");
                });
            }
            else
            {
                canceledFirst++;
                Assert.Multiple(() =>
                {
                    Assert.That(canceled, Is.True);
                    Assert.That(claimResult.Outcome, Is.AnyOf(ClaimOutcome.AlreadyEnded, ClaimOutcome.WorkflowNotRunnable));
                    Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Canceled));
                    Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.Canceled));
                });
            }
        }

        TestContext.Out.WriteLine($"{Database}: claim won {claimedFirst} times, cancel won {canceledFirst} times; all 20 consistent");
        Assert.That(claimedFirst + canceledFirst, Is.EqualTo(20));
    }
}
