using System.Collections.Concurrent;
using System.Diagnostics;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>Records which items a resumable step finished, and in which Hangfire job.</summary>
public sealed class IterationProbe
{
    public ConcurrentQueue<int> Done { get; } = new();

    public ConcurrentQueue<string> Starts { get; } = new();

    /// <summary>The item after whose body the hook stops the server (0: none).</summary>
    public int StopAfterItem { get; set; }

    /// <summary>Stops the server that runs the step (set by the test).</summary>
    public Action? StopServer { get; set; }

    /// <summary>Whether the step's token had fired when the stopping item's body returned.</summary>
    public bool? TokenFiredBeforeReturn { get; private set; }

    /// <summary>
    /// One item's work: 40 ms, then recorded as done. For <see cref="StopAfterItem"/> it then stops the server and waits
    /// until the step's token has fired before it returns normally, so the stop lands exactly between an item's
    /// return and the iteration's next move.
    /// </summary>
    public async Task DoItemAsync(int item, CancellationToken token)
    {
        await Task.Delay(40, token);
        Done.Enqueue(item);
        StepToken = token;
        if (item == StopAfterItem && !StopInCheckpoint)
        {
            await StopAndWaitAsync();
        }
    }

    /// <summary>When set, the stop lands inside the checkpoint write that follows <see cref="StopAfterItem"/> instead.</summary>
    public bool StopInCheckpoint { get; set; }

    /// <summary>The token of the step's current item.</summary>
    public CancellationToken StepToken { get; private set; }

    /// <summary>A fault hook for the store: stops the server inside the checkpoint write of <see cref="StopAfterItem"/>'s cursor.</summary>
    public async Task OnStorePointAsync(string point)
    {
        if (point == "checkpoint" && StopInCheckpoint && TokenFiredBeforeReturn is null && Done.Count == StopAfterItem)
        {
            await StopAndWaitAsync();
        }
    }

    private async Task StopAndWaitAsync()
    {
        if (StopServer is not { } stop)
        {
            return;
        }

        stop();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(20), StepToken);
        }
        catch (OperationCanceledException)
        {
        }

        TokenFiredBeforeReturn = StepToken.IsCancellationRequested;
    }
}

/// <summary>Works through items 1…40 (40 ms each), saving after every item; an item interrupted mid-way is not recorded.</summary>
public abstract class E2EIterationWorkflow(IterationProbe probe) : Workflow<Account>
{
    public const int Items = 40;

    protected async Task IterateAsync(StepIteration<int> iteration, CancellationToken ct)
    {
        probe.Starts.Enqueue($"{iteration.Cursor}");
        await iteration.ForEachAsync(Enumerable.Range(iteration.Cursor + 1, Items - iteration.Cursor).ToAsyncEnumerable(), item => item,
            probe.DoItemAsync, ct);
    }

    protected async Task IteratePagesAsync(StepIteration<int> iteration, CancellationToken ct)
    {
        probe.Starts.Enqueue($"{iteration.Cursor}");
        await iteration.ForEachPageAsync<int>(
            (after, _) => Task.FromResult<IReadOnlyList<int>>(Enumerable.Range(after + 1, Math.Min(5, Items - after)).ToList()),
            item => item, probe.DoItemAsync, ct);
    }

    protected async Task AdvanceAsync(StepIteration<int> iteration, CancellationToken ct)
    {
        probe.Starts.Enqueue($"{iteration.Cursor}");
        while (iteration.Cursor < Items)
        {
            await probe.DoItemAsync(iteration.Cursor + 1, ct);
            await iteration.AdvanceAsync(ct: ct);
        }
    }
}

[WorkflowName("e2e_page_iteration")]
public sealed class E2EPageIterationWorkflow(IterationProbe probe) : E2EIterationWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.ResumableStep<int>("iterate", IteratePagesAsync, checkpointEvery: TimeSpan.FromSeconds(30));
}

[WorkflowName("e2e_advance_iteration")]
public sealed class E2EAdvanceIterationWorkflow(IterationProbe probe) : E2EIterationWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps) => steps.ResumableStep<int>("iterate", AdvanceAsync);
}

[WorkflowName("e2e_iteration")]
public sealed class E2EIterationWorkflow1(IterationProbe probe) : E2EIterationWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps) => steps.ResumableStep<int>("iterate", IterateAsync, checkpointEvery: TimeSpan.Zero);
}

[WorkflowName("e2e_sliced_iteration")]
public sealed class E2ESlicedIterationWorkflow(IterationProbe probe) : E2EIterationWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.ResumableStep<int>("iterate", IterateAsync, maxRunTime: TimeSpan.FromMilliseconds(400), checkpointEvery: TimeSpan.FromSeconds(30));
}

/// <summary>
/// Resumable steps on real Hangfire servers: a graceful shutdown, a pause and a time slice each end the attempt
/// at a checkpoint, and the next attempt continues from the saved cursor without repeating finished items.
/// (A worker killed with SIGKILL mid-iteration: <see cref="KillNineTests"/>.)
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class ResumableEndToEndTests(string database)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);
    private TestDatabase? _db;
    private string _target = null!;
    private IterationProbe _probe = null!;
    private AccountDirectory _accounts = null!;

    [SetUp]
    public void SetUp()
    {
        // NUnit keeps one fixture instance for all its tests: every test gets fresh probes.
        _probe = new IterationProbe();
        _accounts = new AccountDirectory();
        _db = TestDatabase.Create(database);
        _target = HangfireTestServer.NewTarget(database, "resumable");
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_db is null)
        {
            return;
        }

        await _db.DisposeAsync();
        HangfireTestServer.DeleteTarget(database, _target);
    }

    private HangfireTestServer Start(bool server = true) => HangfireTestServer.Start(database, _db!,
        options =>
        {
            options.LeaseTimeout = TimeSpan.FromSeconds(5);
            options.AddWorkflow<E2EIterationWorkflow1>().AddWorkflow<E2ESlicedIterationWorkflow>()
                .AddWorkflow<E2EPageIterationWorkflow>().AddWorkflow<E2EAdvanceIterationWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
        },
        services => services.AddSingleton(_probe).AddSingleton(_accounts),
        workers: 2, hangfireTarget: _target, startServer: server);

    private Task WaitForItemsAsync(int count) =>
        HangfireTestServer.WaitUntilAsync(() => Task.FromResult(_probe.Done.Count >= count), Timeout, $"{count} items to be done");

    private void AssertEveryItemDoneOnce() =>
        Assert.That(_probe.Done.Order(), Is.EqualTo(Enumerable.Range(1, E2EIterationWorkflow.Items)), "every item done exactly once");

    [Test]
    public async Task GracefulShutdownMidIteration_TheNextServerContinuesFromTheCheckpoint()
    {
        long workflowId;
        var first = Start();
        try
        {
            workflowId = (await first.Client.StartAsync<E2EIterationWorkflow1>(_accounts.Add("deploy"))).Id;
            await WaitForItemsAsync(10);
        }
        finally
        {
            await first.DisposeAsync();
        }

        var doneBeforeRestart = _probe.Done.Count;
        var restarted = Stopwatch.StartNew();
        await using var second = Start();
        await HangfireTestServer.WaitUntilAsync(async () => (await second.Client.GetAsync(workflowId))?.State == WorkflowState.Finished,
            Timeout, "the workflow to finish on the new server");
        var history = await second.Client.GetHistoryAsync(workflowId);

        TestContext.Out.WriteLine($"{database}: stopped after {doneBeforeRestart} items; finished {restarted.Elapsed.TotalSeconds:0.0} s after the restart; " +
                                  $"attempts started at cursors {string.Join(", ", _probe.Starts)}");
        Assert.Multiple(() =>
        {
            AssertEveryItemDoneOnce();
            Assert.That(history.Select(h => h.Outcome), Is.EqualTo(new StepOutcome?[] { StepOutcome.Interrupted, StepOutcome.Success }));
            Assert.That(history[0].Cursor, Is.EqualTo(doneBeforeRestart.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                "the interrupted attempt saved the last item it finished");
            Assert.That(_probe.Starts, Is.EqualTo(new[] { "0", history[0].Cursor }));
        });
    }

    /// <summary>
    /// The stop lands exactly between an item's return and the iteration's next move (the item's body fires the
    /// server's stop and returns normally once the step's token has fired): the item counts as done, the interrupted
    /// attempt saves its cursor, and the next server continues after it. For each iteration helper.
    /// </summary>
    [TestCase("for_each", false)]
    [TestCase("for_each", true)]
    [TestCase("for_each_page", false)]
    [TestCase("advance", false)]
    [TestCase("advance", true)]
    public async Task StopWhileAnItemReturns_TheItemIsDoneOnce_AndItsCursorIsSaved(string helper, bool stopInCheckpoint)
    {
        const int stopAfter = 7;
        long workflowId;
        var first = Start();
        try
        {
            _probe.StopAfterItem = stopAfter;
            _probe.StopInCheckpoint = stopInCheckpoint;
            _probe.StopServer = () => first.SendStop();
            first.Runtime.Store.Faults = _probe.OnStorePointAsync;
            var hero = _accounts.Add("stop-" + helper);
            workflowId = helper switch
            {
                "for_each" => (await first.Client.StartAsync<E2EIterationWorkflow1>(hero)).Id,
                "for_each_page" => (await first.Client.StartAsync<E2EPageIterationWorkflow>(hero)).Id,
                _ => (await first.Client.StartAsync<E2EAdvanceIterationWorkflow>(hero)).Id,
            };
            await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(_probe.TokenFiredBeforeReturn is not null), Timeout,
                "the stopping item to return");
        }
        finally
        {
            await first.DisposeAsync();
        }

        _probe.StopAfterItem = 0;
        await using var second = Start();
        await HangfireTestServer.WaitUntilAsync(async () => (await second.Client.GetAsync(workflowId))?.State == WorkflowState.Finished,
            Timeout, "the workflow to finish on the new server");
        var history = await second.Client.GetHistoryAsync(workflowId);

        Assert.Multiple(() =>
        {
            Assert.That(_probe.TokenFiredBeforeReturn, Is.True, "the stop had fired the step's token before the item returned");
            AssertEveryItemDoneOnce();
            Assert.That(history.Select(h => h.Outcome), Is.EqualTo(new StepOutcome?[] { StepOutcome.Interrupted, StepOutcome.Success }));
            Assert.That(history[0].Cursor, Is.EqualTo($"{stopAfter}"), "the interrupted attempt saved the item that returned");
            Assert.That(_probe.Starts, Is.EqualTo(new[] { "0", $"{stopAfter}" }), "the next attempt continued after it");
        });
    }

    [Test]
    public async Task PauseMidIteration_StopsAtACheckpoint_AndResumeContinues()
    {
        await using var worker = Start();
        await using var operator_ = Start(server: false);
        var workflow = await worker.Client.StartAsync<E2EIterationWorkflow1>(_accounts.Add("pause"));
        await WaitForItemsAsync(8);

        await operator_.Client.PauseAsync(workflow.Id);
        await HangfireTestServer.WaitUntilAsync(async () => (await operator_.Client.GetCurrentExecutionAsync(workflow.Id))?.State != StepExecutionState.InProgress,
            Timeout, "the running attempt to stop");
        var doneWhilePaused = _probe.Done.Count;
        await operator_.Client.ResumeAsync(workflow.Id);
        await HangfireTestServer.WaitUntilAsync(async () => (await operator_.Client.GetAsync(workflow.Id))!.State == WorkflowState.Finished,
            Timeout, "the resumed workflow to finish");
        var history = await operator_.Client.GetHistoryAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            AssertEveryItemDoneOnce();
            Assert.That(doneWhilePaused, Is.LessThan(E2EIterationWorkflow.Items), "the pause stopped the iteration before its end");
            Assert.That(history[0].State, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(history[0].Cursor, Is.EqualTo(doneWhilePaused.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(_probe.Starts, Is.EqualTo(new[] { "0", history[0].Cursor }), "Resume continued from the saved cursor");
        });
    }

    [Test]
    public async Task TimeSlices_HandTheWorkerBack_AndEachSliceRunsInANewJob()
    {
        await using var server = Start();
        var workflow = await server.Client.StartAsync<E2ESlicedIterationWorkflow>(_accounts.Add("slices"));

        await HangfireTestServer.WaitUntilAsync(async () => (await server.Client.GetAsync(workflow.Id))!.State == WorkflowState.Finished,
            Timeout, "the sliced workflow to finish");
        var history = await server.Client.GetHistoryAsync(workflow.Id);

        TestContext.Out.WriteLine($"{database}: {history.Count} slices, cursors {string.Join(", ", history.Select(h => h.Cursor))}");
        Assert.Multiple(() =>
        {
            AssertEveryItemDoneOnce();
            Assert.That(history, Has.Count.GreaterThanOrEqualTo(3), "40 items of 40 ms in 400 ms slices");
            Assert.That(history.Take(history.Count - 1).Select(h => h.Outcome), Is.All.EqualTo(StepOutcome.Suspended));
            Assert.That(history[^1].Outcome, Is.EqualTo(StepOutcome.Success));
            Assert.That(history.Select(h => h.JobId).Distinct().Count(), Is.EqualTo(history.Count), "each slice ran in a job of its own");
            Assert.That(_probe.Starts.Skip(1), Is.EqualTo(history.Take(history.Count - 1).Select(h => h.Cursor)),
                "each slice started where the one before saved");
        });
    }
}
