using System.Diagnostics;
using GenevaDrive.CrashWorker;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>
/// Separate worker processes. A worker killed with SIGKILL (or frozen with SIGSTOP) in the middle of a step: after
/// its lease expires the step is attempted again on another server and the workflow completes; the two attempts
/// never overlap. And commands from another process reach a worker: an event wakes its waiting step, a cancel
/// stops its running step.
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class KillNineTests(string database)
{
    private const int LeaseSeconds = 3;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private TestDatabase? _db;
    private string _markers = null!;
    private string _hangfireTarget = null!;
    private Process? _worker;
    private readonly System.Text.StringBuilder _workerOutput = new();

    [SetUp]
    public async Task SetUp()
    {
        _db = TestDatabase.Create(database);
        await _db.InstallAsync();
        _markers = Directory.CreateTempSubdirectory("genevadrive-crash-").FullName;
        _hangfireTarget = HangfireTestServer.NewTarget(database, "crash");
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_worker is { HasExited: false })
        {
            _worker.Kill(entireProcessTree: true);
        }

        _worker?.Dispose();
        // NUnit keeps one fixture instance for all its tests: the next test must not see this worker.
        _worker = null;
        if (_db is null)
        {
            // The set-up was ignored (no PostgreSQL here): nothing was created.
            return;
        }

        await _db.DisposeAsync();
        _db = null;
        Directory.Delete(_markers, recursive: true);
        HangfireTestServer.DeleteTarget(database, _hangfireTarget);
    }

    private HangfireTestServer Server(bool start) => HangfireTestServer.Start(database, _db!,
        options =>
        {
            options.LeaseTimeout = TimeSpan.FromSeconds(LeaseSeconds);
            // Scaled down with the lease: a job the killed worker fetched but never started stays invisible in Hangfire's queue,
            // and the reconciler adds one new job for its step after this long (5 minutes by default, like the lease).
            options.StuckScheduledThreshold = TimeSpan.FromSeconds(15);
            options.AddWorkflow<CrashableWorkflow>().AddWorkflow<ResumableCrashWorkflow>().AddWorkflow<EventWorkerWorkflow>()
                .AddWorkflow<FanOutCrashWorkflow>().AddWorkflow<TicketChildWorkflow>().AddHero<Ticket>(t => t.Id, (_, id, _) => Task.FromResult<Ticket?>(new Ticket(id)));
        },
        services => services.AddSingleton(new CrashSettings { MarkerDirectory = _markers, HangInStep = false }),
        hangfireTarget: _hangfireTarget, startServer: start);

    private Process StartWorker(int? slowItemMilliseconds = null)
    {
        var (connection, schema) = _db!.Target;
        // Run the worker from its own output folder: the test folder carries ASP.NET Core's shared framework instead of some of its dependencies.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var root = testBin;
        while (!File.Exists(Path.Combine(root!.FullName, "GenevaDrive.Hangfire.sln")))
        {
            root = root.Parent;
        }

        var workerDll = Path.Combine(root.FullName, "test", "GenevaDrive.Hangfire.CrashWorker", "bin", testBin.Parent!.Name, "net10.0", "GenevaDrive.Hangfire.CrashWorker.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { workerDll, database, connection, schema, _hangfireTarget, LeaseSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), _markers }
                     .Concat(slowItemMilliseconds is { } ms ? [ms.ToString(System.Globalization.CultureInfo.InvariantCulture)] : []))
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => _workerOutput.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => _workerOutput.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Starts a workflow through a client with no Hangfire server, so the worker process is the one to run it.</summary>
    private async Task<long> StartWorkflowAsync<TWorkflow>(string ticket)
        where TWorkflow : Workflow
    {
        await using var client = Server(start: false);
        return (await client.Client.StartAsync<TWorkflow>(new Ticket(ticket))).Id;
    }

    private string[] Entries(int pid) => Directory.GetFiles(_markers, $"enter-{pid}-*.txt");

    [Test]
    public async Task WorkerKilledMidStep_StepIsReattemptedAfterTheLease_AndTheWorkflowCompletes()
    {
        var workflowId = await StartWorkflowAsync<CrashableWorkflow>("T-1");

        _worker = StartWorker();
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Entries(_worker.Id).Length == 1 || _worker.HasExited), Timeout,
            "the worker process to enter the step");
        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");
        var workerPid = _worker.Id;
        _worker.Kill(entireProcessTree: true);
        await _worker.WaitForExitAsync();
        var killedAt = DateTime.UtcNow;

        await using var rescuer = Server(start: true);
        var stopwatch = Stopwatch.StartNew();
        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            await rescuer.Runtime.Maintenance.ReconcileAsync();
            return (await rescuer.Client.GetAsync(workflowId))!.State == WorkflowState.Finished;
        }, Timeout, "the workflow to complete after the crash");
        stopwatch.Stop();

        var history = await rescuer.Client.GetHistoryAsync(workflowId);
        var rescuerEntries = Entries(Environment.ProcessId);
        var secondEnter = DateTime.Parse(File.ReadAllText(rescuerEntries.Single()).Split(' ')[1], null, System.Globalization.DateTimeStyles.RoundtripKind);
        Assert.Multiple(() =>
        {
            Assert.That(Entries(workerPid), Has.Length.EqualTo(1), "the killed worker entered once");
            Assert.That(File.Exists(Entries(workerPid)[0] + ".exit"), Is.False, "and never left");
            Assert.That(rescuerEntries, Has.Length.EqualTo(1), "the step ran once more");
            Assert.That(secondEnter, Is.GreaterThanOrEqualTo(killedAt.AddMilliseconds(-5)), "the second attempt began after the first process died");
            Assert.That(history.Select(e => $"{e.StepName}:{e.State}/{e.Outcome}"),
                Is.EqualTo(new[] { "long_step:Failed/Recovered", "long_step:Completed/Success", "after:Completed/Success" }));
            Assert.That(File.Exists(Path.Combine(_markers, "after.txt")), Is.True);
        });
        TestContext.Out.WriteLine(
            $"{database}: worker {workerPid} killed with SIGKILL mid-step; lease {LeaseSeconds} s; workflow finished {stopwatch.Elapsed.TotalSeconds:0.0} s after the kill; attempts: {string.Join(", ", history.Select(e => $"{e.StepName}:{e.Outcome}"))}");
    }

    private int[] ItemsBy(int pid) => Directory.GetFiles(_markers, $"item-*-{pid}.txt")
        .Select(f => int.Parse(Path.GetFileName(f).Split('-')[1], System.Globalization.CultureInfo.InvariantCulture)).Order().ToArray();

    [Test]
    public async Task WorkerKilledMidIteration_TheNextAttemptResumesFromTheLastCheckpoint()
    {
        var workflowId = await StartWorkflowAsync<ResumableCrashWorkflow>("R-1");

        _worker = StartWorker();
        var workerPid = _worker.Id;
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(ItemsBy(workerPid).Contains(ResumableCrashWorkflow.HangAt) || _worker.HasExited),
            Timeout, "the worker process to reach the item it hangs in");
        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");
        _worker.Kill(entireProcessTree: true);
        await _worker.WaitForExitAsync();

        await using var rescuer = Server(start: true);
        var stopwatch = Stopwatch.StartNew();
        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            await rescuer.Runtime.Maintenance.ReconcileAsync();
            return (await rescuer.Client.GetAsync(workflowId))!.State == WorkflowState.Finished;
        }, Timeout, "the workflow to complete after the crash");
        stopwatch.Stop();

        var history = await rescuer.Client.GetHistoryAsync(workflowId);
        var byWorker = ItemsBy(workerPid);
        var byRescuer = ItemsBy(Environment.ProcessId);
        Assert.Multiple(() =>
        {
            Assert.That(byWorker, Is.EqualTo(Enumerable.Range(1, ResumableCrashWorkflow.HangAt)), "the killed worker did items 1-7 and entered item 8");
            Assert.That(byRescuer, Is.EqualTo(Enumerable.Range(ResumableCrashWorkflow.HangAt, ResumableCrashWorkflow.Items - ResumableCrashWorkflow.HangAt + 1)),
                "the next attempt started after the last checkpoint (item 7): only the unfinished item 8 ran twice");
            Assert.That(File.Exists(Path.Combine(_markers, $"start-{Environment.ProcessId}-{ResumableCrashWorkflow.HangAt - 1}.txt")), Is.True,
                "the rescuing attempt saw cursor 7");
            Assert.That(history.Select(e => $"{e.StepName}:{e.State}/{e.Outcome}"),
                Is.EqualTo(new[] { "import:Failed/Recovered", "import:Completed/Success" }));
            Assert.That(history[0].Cursor, Is.EqualTo("7"));
            Assert.That(history[1].Cursor, Is.EqualTo("20"));
            Assert.That(history[1].IdempotencyKey, Is.EqualTo(history[0].IdempotencyKey), "a takeover continues the same logical attempt");
        });
        TestContext.Out.WriteLine(
            $"{database}: worker {workerPid} killed with SIGKILL in item {ResumableCrashWorkflow.HangAt}; lease {LeaseSeconds} s; finished {stopwatch.Elapsed.TotalSeconds:0.0} s after the kill; " +
            $"items by the killed worker: {string.Join(",", byWorker)}; by the rescuer: {string.Join(",", byRescuer)}");
    }

    /// <summary>
    /// A worker killed with SIGKILL while its StartChildren step starts 300 children in batches: the next server takes the step
    /// over after the lease, goes on from the last checkpoint, finds the children the interrupted batch had started, and the
    /// fan-out completes with each child started exactly once.
    /// </summary>
    [Test]
    public async Task WorkerKilledWhileStartingChildren_EachChildIsStartedOnce_AndTheParentCompletes()
    {
        var workflowId = await StartWorkflowAsync<FanOutCrashWorkflow>("F");
        _worker = StartWorker();
        await using (var watcher = Server(start: false))
        {
            await HangfireTestServer.WaitUntilAsync(async () => (await watcher.Client.GetChildrenAsync(workflowId, 1000)).Count >= 75 || _worker.HasExited,
                Timeout, "the worker process to start some of the children");
        }

        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");
        _worker.Kill(entireProcessTree: true);
        await _worker.WaitForExitAsync();

        await using var rescuer = Server(start: true);
        var startedAtKill = (await rescuer.Client.GetChildrenAsync(workflowId, 1000)).Count;
        var stopwatch = Stopwatch.StartNew();
        // A child job the killed worker had fetched but not yet claimed stays with it: the reconciler adds a job once that
        // server has been silent for two minutes (a job in Processing) or after StuckScheduledThreshold (a job still Enqueued).
        while ((await rescuer.Client.GetAsync(workflowId))!.State != WorkflowState.Finished && stopwatch.Elapsed < TimeSpan.FromMinutes(5))
        {
            await rescuer.Runtime.Maintenance.ReconcileAsync();
            await Task.Delay(200);
        }

        stopwatch.Stop();
        var finished = (await rescuer.Client.GetAsync(workflowId))!;
        var byState = (await rescuer.Client.GetChildrenAsync(workflowId, 1000)).GroupBy(c => c.State).Select(g => $"{g.Key} {g.Count()}");
        Assert.That(finished.State, Is.EqualTo(WorkflowState.Finished),
            $"the fan-out did not complete within 5 minutes of the kill: parent at '{finished.CurrentStepName ?? finished.NextStepName}', " +
            $"children {string.Join(", ", byState)}; worker output: {_workerOutput}");

        var children = await rescuer.Client.GetChildrenAsync(workflowId, 1000);
        var runs = Directory.GetFiles(_markers, "child-*.txt").Select(f => Path.GetFileName(f).Split('-')[2]).ToList();
        var history = await rescuer.Client.GetHistoryAsync(workflowId);
        Assert.Multiple(() =>
        {
            Assert.That(startedAtKill, Is.InRange(75, FanOutCrashWorkflow.Children - 1), "the kill came while children were being started");
            Assert.That(children, Has.Count.EqualTo(FanOutCrashWorkflow.Children), "nothing lost, nothing started twice");
            Assert.That(children.Select(c => c.HeroId).Distinct().Count(), Is.EqualTo(FanOutCrashWorkflow.Children));
            Assert.That(children.Select(c => c.State), Is.All.EqualTo(WorkflowState.Finished));
            Assert.That(runs.Distinct().Count(), Is.EqualTo(FanOutCrashWorkflow.Children), "every child ran");
            Assert.That(history.Select(e => $"{e.StepName}:{e.Outcome}"),
                Is.EqualTo(new[] { "start_all:Recovered", "start_all:Success", "wait_for_start_all:Success", "after:Success" }));
        });
        TestContext.Out.WriteLine(
            $"{database}: worker {_worker.Id} killed with SIGKILL after starting {startedAtKill} of {FanOutCrashWorkflow.Children} children; lease {LeaseSeconds} s; " +
            $"fan-out finished {stopwatch.Elapsed.TotalSeconds:0.0} s after the kill; child runs {runs.Count} for {runs.Distinct().Count()} children " +
            $"(a child whose one step the kill cut short runs again)");
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{signal} {pid}");
    }

    [Test]
    public async Task WorkerFrozenMidIteration_ItsLateCheckpointIsRefused_AndTheStepFinishesFromTheCursor()
    {
        if (database == "sqlite")
        {
            // SQLite allows one writer per file: a process frozen while it holds the file's write lock (Hangfire's or the
            // workflows') blocks every other process on that file until it is woken, so no rescuer can run. The stale
            // checkpoint's refusal is covered on SQLite by StoreCheckpointTests; the frozen process runs on PostgreSQL.
            Assert.Ignore("A process frozen with SIGSTOP can hold SQLite's single write lock and block every other process; this scenario runs on PostgreSQL.");
        }

        var workflowId = await StartWorkflowAsync<ResumableCrashWorkflow>("F-1");

        _worker = StartWorker(slowItemMilliseconds: 300);
        var workerPid = _worker.Id;
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(ItemsBy(workerPid).Length >= 4 || _worker.HasExited), Timeout,
            "the worker process to do a few items");
        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");
        Signal(workerPid, "STOP");
        var itemsWhenFrozen = ItemsBy(workerPid);

        await using var rescuer = Server(start: true);
        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            await rescuer.Runtime.Maintenance.ReconcileAsync();
            return (await rescuer.Client.GetAsync(workflowId))!.State == WorkflowState.Finished;
        }, Timeout, "the workflow to finish while the worker is frozen");
        var frozenAttempt = (await rescuer.Client.GetHistoryAsync(workflowId))[0];

        Signal(workerPid, "CONT");
        var monitoring = rescuer.Storage.GetMonitoringApi();
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(monitoring.JobDetails(frozenAttempt.JobId!)?.History.FirstOrDefault()?.StateName is "Succeeded" or "Failed"),
            Timeout, "the woken worker's job to end");
        var history = await rescuer.Client.GetHistoryAsync(workflowId);
        var staleJob = monitoring.JobDetails(frozenAttempt.JobId!)!.History.First();
        var itemsAfterWaking = ItemsBy(workerPid).Except(itemsWhenFrozen).ToArray();

        TestContext.Out.WriteLine($"{database}: frozen after items {string.Join(",", itemsWhenFrozen)} (cursor {frozenAttempt.Cursor}); " +
                                  $"rescuer did {string.Join(",", ItemsBy(Environment.ProcessId))}; woken worker did {string.Join(",", itemsAfterWaking)}; " +
                                  $"its job: {staleJob.StateName} ({(staleJob.Data is { } data && data.TryGetValue("Result", out var result) ? result : "")})");
        Assert.Multiple(() =>
        {
            Assert.That(history.Select(e => $"{e.StepName}:{e.State}/{e.Outcome}"), Is.EqualTo(new[] { "import:Failed/Recovered", "import:Completed/Success" }));
            Assert.That(history[0].Cursor, Is.EqualTo(frozenAttempt.Cursor), "the woken run's checkpoint was refused: the closed attempt's cursor did not move");
            Assert.That(history[0].Checkpoints, Is.EqualTo(frozenAttempt.Checkpoints));
            Assert.That(history[1].Cursor, Is.EqualTo("20"));
            Assert.That(ItemsBy(Environment.ProcessId).First(), Is.EqualTo(int.Parse(frozenAttempt.Cursor!, System.Globalization.CultureInfo.InvariantCulture) + 1),
                "the rescuer started after the frozen attempt's last checkpoint");
            Assert.That(itemsAfterWaking, Has.Length.LessThanOrEqualTo(1), "the woken worker finished at most the item it was frozen in, then stopped");
            Assert.That(staleJob.StateName, Is.EqualTo("Succeeded"), "the stale run ended quietly, recording nothing");
        });
    }

    [Test]
    public async Task EventSentFromAnotherProcess_WakesTheWaitingStep_WhichTheWorkerProcessRuns()
    {
        await using var client = Server(start: false);
        var workflowId = (await client.Client.StartAsync<EventWorkerWorkflow>(new Ticket("E-1"))).Id;
        _worker = StartWorker();
        var workerPid = _worker.Id;
        await HangfireTestServer.WaitUntilAsync(async () => _worker.HasExited ||
                (await client.Client.GetCurrentExecutionAsync(workflowId))?.StepName == "wait_for_go",
            Timeout, "the worker process to run the first step and wait for the event");
        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");

        var sent = Stopwatch.StartNew();
        var delivery = await client.Client.SendEventAsync(workflowId, "go", "hello", eventId: "cross-1");
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(_markers, $"after-{workerPid}-hello.txt"))),
            Timeout, "the worker process to run the step after the event");
        var latency = sent.Elapsed;
        await HangfireTestServer.WaitUntilAsync(async () => (await client.Client.GetAsync(workflowId))!.State == WorkflowState.Finished,
            Timeout, "the workflow to finish");
        var events = await client.Client.GetEventsAsync(workflowId);

        TestContext.Out.WriteLine($"{database}: the event sent from process {Environment.ProcessId} ran its step in worker {workerPid} after {latency.TotalSeconds:0.00} s");
        Assert.Multiple(() =>
        {
            Assert.That(delivery.Outcome, Is.EqualTo(EventDeliveryOutcome.Delivered));
            Assert.That(File.Exists(Path.Combine(_markers, $"before-{workerPid}.txt")), Is.True);
            Assert.That(events.Single().ConsumedAt, Is.Not.Null);
            Assert.That(latency, Is.LessThan(TimeSpan.FromSeconds(10)), "the scheduled job was moved to its queue, not left to its 2-minute timeout");
        });
    }

    [Test]
    public async Task CancelFromAnotherProcess_StopsTheStepRunningInTheWorkerWithinAHeartbeat()
    {
        await using var client = Server(start: false);
        var workflowId = (await client.Client.StartAsync<CrashableWorkflow>(new Ticket("C-1"))).Id;
        _worker = StartWorker();
        await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(Entries(_worker.Id).Length == 1 || _worker.HasExited), Timeout,
            "the worker process to enter the step");
        Assert.That(_worker.HasExited, Is.False, $"the worker exited: {_workerOutput}");

        var asked = Stopwatch.StartNew();
        var canceled = await client.Client.CancelAsync(workflowId);
        await HangfireTestServer.WaitUntilAsync(async () => (await client.Client.GetCurrentExecutionAsync(workflowId))?.State != StepExecutionState.InProgress,
            Timeout, "the worker's running attempt to be closed");
        var stopped = asked.Elapsed;
        var history = await client.Client.GetHistoryAsync(workflowId);

        TestContext.Out.WriteLine($"{database}: the step running in worker {_worker.Id} was stopped {stopped.TotalSeconds:0.00} s after the cancel (heartbeat every {LeaseSeconds / 5.0:0.0} s)");
        Assert.Multiple(async () =>
        {
            Assert.That(canceled.State, Is.EqualTo(WorkflowState.Canceled), "recorded at once");
            Assert.That(history.Single().State, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That(stopped, Is.LessThan(TimeSpan.FromSeconds(LeaseSeconds)), "within about one heartbeat, well before the lease");
            Assert.That(File.Exists(Path.Combine(_markers, "after.txt")), Is.False, "the workflow did not advance");
            Assert.That((await client.Client.GetAsync(workflowId))!.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(_worker.HasExited, Is.False, "the worker goes on serving");
        });
    }
}
