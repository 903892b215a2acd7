using System.Collections.Concurrent;
using System.Diagnostics;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>Records which server (build) ran which step of which workflow.</summary>
public sealed record RolloutRecorder(string Build, ConcurrentQueue<(string Build, long WorkflowId, string Step)> Runs);

/// <summary>Shared body: record the run.</summary>
public abstract class RolloutBase(RolloutRecorder recorder) : Workflow<Account>
{
    protected Func<CancellationToken, Task> Runs(string step) => _ =>
    {
        recorder.Runs.Enqueue((recorder.Build, WorkflowId, step));
        return Task.CompletedTask;
    };
}

/// <summary>The old build: a → b → c.</summary>
[WorkflowName("rollout")]
public sealed class RolloutV1(RolloutRecorder recorder) : RolloutBase(recorder)
{
    protected override void Define(WorkflowBuilder steps) => steps.Step("a", Runs("a")).Step("b", Runs("b")).Step("c", Runs("c"));
}

/// <summary>The new build inserts a2 (ten seconds after a) that the old build does not know.</summary>
[WorkflowName("rollout")]
public sealed class RolloutV2(RolloutRecorder recorder) : RolloutBase(recorder)
{
    protected override void Define(WorkflowBuilder steps) => steps
        .Step("a", Runs("a")).Step("a2", Runs("a2"), wait: TimeSpan.FromSeconds(10)).Step("b", Runs("b")).Step("c", Runs("c"));
}

/// <summary>
/// A rolling deploy: two Hangfire servers on one storage, one running the old build (v1) and one the new (v2), as
/// while old and new processes share the queues. The old server is handed jobs of a step only the new build defines:
/// it releases them unrun and uncounted until the new server takes them. No workflow pauses, every step runs in a
/// server that defines it, and nothing runs twice.
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class RollingDeployTests(string database)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const int Workflows = 6;
    private TestDatabase? _db;
    private string _target = null!;
    private readonly ConcurrentQueue<(string Build, long WorkflowId, string Step)> _runs = new();
    private readonly AccountDirectory _accounts = new();

    [SetUp]
    public void SetUp()
    {
        _runs.Clear();
        _db = TestDatabase.Create(database);
        _target = HangfireTestServer.NewTarget(database, "rollout");
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

    private HangfireTestServer Server<TWorkflow>(string build)
        where TWorkflow : RolloutBase =>
        HangfireTestServer.Start(database, _db!,
            options =>
            {
                options.UndefinedStepRetryDelay = TimeSpan.FromSeconds(1);
                options.AddWorkflow<TWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
            },
            services => services.AddSingleton(new RolloutRecorder(build, _runs)).AddSingleton(_accounts),
            workers: 2, hangfireTarget: _target);

    private int Released(IReadOnlyList<StepExecutionInfo> history) =>
        history.Count(h => h.Outcome == StepOutcome.Interrupted && h.StepName == "a2");

    [Test]
    public async Task OldAndNewServersOnOneStorage_NoWorkflowPauses_EveryStepRunsOnceWhereItIsDefined()
    {
        var ids = new List<long>();
        HangfireTestServer? v1 = null;

        // The new build starts workflows and runs their first step; the old build's server is up beside it; then the new
        // server goes away for a moment (its next pod is still starting), so the old server alone is handed the a2 jobs
        // when they come due.
        var v2First = Server<RolloutV2>("v2");
        try
        {
            for (var i = 0; i < Workflows; i++)
            {
                ids.Add((await v2First.Client.StartAsync<RolloutV2>(_accounts.Add($"rollout-{i}"))).Id);
            }

            await HangfireTestServer.WaitUntilAsync(() => Task.FromResult(ids.All(id => _runs.Any(r => r.WorkflowId == id && r.Step == "a"))),
                Timeout, "every workflow to run step a");
            v1 = Server<RolloutV1>("v1");
        }
        finally
        {
            await v2First.DisposeAsync();
        }

        await using var old = v1!;

        await HangfireTestServer.WaitUntilAsync(async () =>
        {
            foreach (var id in ids)
            {
                if (Released(await old.Client.GetHistoryAsync(id)) == 0)
                {
                    return false;
                }
            }

            return true;
        }, Timeout, "the old server to release each a2 it was handed");

        var newBuildBack = Stopwatch.StartNew();
        await using var v2 = Server<RolloutV2>("v2");
        var finished = false;
        try
        {
            // Which server's workers fetch a released job is chance (each storage wakes its own process's workers first),
            // so on a loaded machine the new build may need many rounds: the bound is generous.
            await HangfireTestServer.WaitUntilAsync(async () =>
            {
                foreach (var id in ids)
                {
                    if ((await old.Client.GetAsync(id))!.State != WorkflowState.Finished)
                    {
                        return false;
                    }
                }

                return finished = true;
            }, 2 * Timeout, "every workflow to finish once the new build is back");
        }
        finally
        {
            if (!finished)
            {
                foreach (var id in ids)
                {
                    var history = await old.Client.GetHistoryAsync(id);
                    TestContext.Out.WriteLine($"{database} workflow {id}: {(await old.Client.GetAsync(id))!.State}, {Released(history)} releases, " +
                                              string.Join(", ", history.TakeLast(3).Select(h => $"{h.StepName}:{h.State}/{h.Outcome} job {h.JobId}")));
                }
            }
        }

        var histories = new Dictionary<long, IReadOnlyList<StepExecutionInfo>>();
        foreach (var id in ids)
        {
            histories[id] = await old.Client.GetHistoryAsync(id);
        }

        var released = histories.Values.Sum(Released);
        TestContext.Out.WriteLine($"{database}: {released} a2 executions released by the old server; all finished {newBuildBack.Elapsed.TotalSeconds:0.0} s after the new build was back");
        Assert.Multiple(() =>
        {
            foreach (var id in ids)
            {
                var steps = _runs.Where(r => r.WorkflowId == id).Select(r => r.Step).ToList();
                Assert.That(steps, Is.EqualTo(new[] { "a", "a2", "b", "c" }), $"workflow {id}: every step once, in order");
                Assert.That(histories[id].Any(h => h.State == StepExecutionState.Failed), Is.False, $"workflow {id} never failed or paused");
                Assert.That(histories[id].Where(h => h.StepName == "a2").Select(h => h.Attempt).Distinct(), Is.EqualTo(new[] { 1 }),
                    "a release counts no attempt");
            }

            Assert.That(_runs.Where(r => r.Step == "a2").Select(r => r.Build).Distinct(), Is.EqualTo(new[] { "v2" }), "a2 ran only where it is defined");
            Assert.That(released, Is.GreaterThanOrEqualTo(Workflows), "the old server was handed every a2 and released it");
        });
    }
}
