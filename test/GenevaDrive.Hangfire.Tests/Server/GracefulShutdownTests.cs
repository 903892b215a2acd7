using System.Collections.Concurrent;
using System.Diagnostics;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Server;

/// <summary>Says which exception policy the shutdown workflow's step has, and records what its body did.</summary>
public sealed class ShutdownProbe
{
    public ExceptionPolicy Policy { get; set; } = ExceptionPolicy.Pause;

    public ConcurrentQueue<string> Events { get; } = new();

    public int Entries;

    public TaskCompletionSource FirstRunStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Why the first run's token fired, as the step read it.</summary>
    public ConcurrentQueue<StepStopReason> StopReasons { get; } = new();
}

/// <summary>The first run of "work" waits until its token fires (the server stops); later runs complete at once.</summary>
[WorkflowName("e2e_shutdown")]
public sealed class E2EShutdownWorkflow(ShutdownProbe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("work", async ct =>
        {
            if (Interlocked.Increment(ref probe.Entries) == 1)
            {
                probe.Events.Enqueue("work started");
                probe.FirstRunStarted.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                    probe.StopReasons.Enqueue(CurrentStep!.StopReason);
                    throw;
                }
            }

            probe.Events.Enqueue("work completed");
        }, onException: probe.Policy);
        steps.Step("after", () => { probe.Events.Enqueue("after"); return Task.CompletedTask; });
    }
}

/// <summary>
/// A deploy: a real Hangfire server is stopped gracefully while a step runs, then a new server starts on the
/// same storage. Whatever the step's exception policy, the stop is not a failure: the workflow keeps running,
/// and the step completes exactly once on the new server within seconds, with the default 5-minute lease.
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class GracefulShutdownTests(string database)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    public static IEnumerable<TestCaseData> Policies()
    {
        yield return new TestCaseData(ExceptionPolicy.Pause).SetArgDisplayNames("Pause");
        yield return new TestCaseData(ExceptionPolicy.Cancel).SetArgDisplayNames("Cancel");
        yield return new TestCaseData(ExceptionPolicy.Skip).SetArgDisplayNames("Skip");
        yield return new TestCaseData(ExceptionPolicy.Reattempt(TimeSpan.FromMinutes(10))).SetArgDisplayNames("Reattempt");
    }

    private static async Task<(WorkflowState State, StepExecutionInfo Interrupted, StepExecutionInfo Next)> ReadAsync(TestDatabase db, long workflowId)
    {
        var store = new GenevaDrive.Store.WorkflowStore(db.Dialect, TimeProvider.System);
        var workflow = (await store.GetWorkflowAsync(workflowId))!;
        var history = (await store.GetHistoryAsync(workflowId)).Select(StepExecutionInfo.From).ToList();
        Assert.That(history, Has.Count.EqualTo(2), "the interrupted attempt and the one scheduled in its place");
        return (workflow.WorkflowState, history[0], history[1]);
    }

    [TestCaseSource(nameof(Policies))]
    public async Task StoppingTheServerMidStep_IsNotAFailure_AndTheNextServerFinishesTheStepOnce(ExceptionPolicy policy)
    {
        await using var db = TestDatabase.Create(database);
        var probe = new ShutdownProbe { Policy = policy };
        var accounts = new AccountDirectory();
        var hero = accounts.Add("deploy");
        var logs = new CapturingLoggerProvider();
        var target = HangfireTestServer.NewTarget(database, "shutdown");
        HangfireTestServer Start() => HangfireTestServer.Start(database, db,
            options => options.AddWorkflow<E2EShutdownWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)),
            services => services.AddSingleton(probe).AddSingleton(accounts).AddLogging(b => b.AddProvider(logs)),
            workers: 2, hangfireTarget: target);

        try
        {
            long workflowId;
            string firstJobId;
            var first = Start();
            try
            {
                Assert.That(first.Runtime.Options.LeaseTimeout, Is.EqualTo(TimeSpan.FromMinutes(5)), "the default lease");
                workflowId = (await first.Client.StartAsync<E2EShutdownWorkflow>(hero)).Id;
                await probe.FirstRunStarted.Task.WaitAsync(Timeout);
                firstJobId = (await first.Client.GetCurrentExecutionAsync(workflowId))!.JobId!;
            }
            finally
            {
                // A graceful stop, as a deploy does: Hangfire cancels the running job's token.
                await first.DisposeAsync();
            }

            var afterStop = await ReadAsync(db, workflowId);
            var restartedAt = Stopwatch.StartNew();
            await using var second = Start();
            await HangfireTestServer.WaitUntilAsync(async () => (await second.Client.GetAsync(workflowId))?.State == WorkflowState.Finished,
                Timeout, $"workflow {workflowId} to finish on the new server");
            var recovery = restartedAt.Elapsed;
            var history = await second.Client.GetHistoryAsync(workflowId);

            TestContext.Out.WriteLine($"{database}/{policy.Action}: finished {recovery.TotalSeconds:0.0} s after the new server started; history: " +
                                      string.Join(", ", history.Select(h => $"{h.StepName}:{h.State}/{h.Outcome}")));
            Assert.Multiple(() =>
            {
                Assert.That(afterStop.State, Is.EqualTo(WorkflowState.Ready), "the stop neither paused nor canceled the workflow");
                Assert.That(afterStop.Interrupted.Outcome, Is.EqualTo(StepOutcome.Interrupted), "no exception policy ran");
                Assert.That(afterStop.Next.State, Is.EqualTo(StepExecutionState.Scheduled));
                Assert.That(afterStop.Next.JobId, Is.EqualTo(firstJobId), "Hangfire redelivers the stopped job, which runs the new attempt");
                Assert.That(probe.Events.Count(e => e == "work completed"), Is.EqualTo(1), "the body completed exactly once after the restart");
                Assert.That(probe.Entries, Is.EqualTo(2), "one interrupted run, one complete run");
                Assert.That(probe.Events.Last(), Is.EqualTo("after"));
                Assert.That(history.Select(h => h.Outcome), Is.EqualTo(new StepOutcome?[] { StepOutcome.Interrupted, StepOutcome.Success, StepOutcome.Success }));
                Assert.That(recovery, Is.LessThan(TimeSpan.FromSeconds(30)), "seconds, not the 5-minute lease");
            });
        }
        catch
        {
            foreach (var (message, _) in logs.Entries)
            {
                TestContext.Out.WriteLine(message);
            }

            throw;
        }
        finally
        {
            logs.Dispose();
            HangfireTestServer.DeleteTarget(database, target);
        }
    }
}
