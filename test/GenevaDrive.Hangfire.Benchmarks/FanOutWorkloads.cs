using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// What one fan-out did, by run key (the parent workflow's id, or the plain run's name): when the parent began starting its
/// children and when it had started them all, how many children ran and when the last one did, and when the parent woke.
/// </summary>
public sealed class FanOutProbe
{
    private readonly ConcurrentDictionary<string, int> _planned = new();
    private readonly ConcurrentDictionary<string, Run> _runs = new();

    /// <summary>The timestamps (<see cref="Stopwatch.GetTimestamp"/>) of one run; 0 until reached.</summary>
    public sealed class Run
    {
        private int _childrenRan;
        private long _lastChild;
        private long _startBegan;
        private long _startEnded;
        private long _parentWoke;

        public long StartBegan { get => Interlocked.Read(ref _startBegan); set => Interlocked.Exchange(ref _startBegan, value); }

        public long StartEnded { get => Interlocked.Read(ref _startEnded); set => Interlocked.Exchange(ref _startEnded, value); }

        public long ParentWoke { get => Interlocked.Read(ref _parentWoke); set => Interlocked.Exchange(ref _parentWoke, value); }

        /// <summary>How long the parent's <c>ChildrenAsync</c> read of every outcome took (GenevaDrive only).</summary>
        public double OutcomesReadMs { get; set; }

        /// <summary>How many finished children that read found (GenevaDrive only).</summary>
        public int OutcomesFinished { get; set; }

        public int ChildrenRan => Volatile.Read(ref _childrenRan);

        public long LastChild => Interlocked.Read(ref _lastChild);

        /// <summary>Counts a child that ran now; returns how many have.</summary>
        public int ChildRan()
        {
            var now = Stopwatch.GetTimestamp();
            long seen;
            while ((seen = Interlocked.Read(ref _lastChild)) < now && Interlocked.CompareExchange(ref _lastChild, now, seen) != seen)
            {
            }

            return Interlocked.Increment(ref _childrenRan);
        }
    }

    /// <summary>Says how many children the parent about <paramref name="parentHeroId"/> is to start.</summary>
    public void Plan(string parentHeroId, int children) => _planned[parentHeroId] = children;

    public int PlannedFor(string parentHeroId) => _planned.TryGetValue(parentHeroId, out var n)
        ? n
        : throw new InvalidOperationException($"No fan-out was planned for parent hero '{parentHeroId}'.");

    public Run For(string key) => _runs.GetOrAdd(key, _ => new Run());

    public bool TryGet(string key, out Run run) => _runs.TryGetValue(key, out run!);

    /// <summary>
    /// The children's heroes, timed: the parent began when the step first asks for them, and had started them all when it
    /// asks past the last one. StartChildren starts a full batch before it asks for the next hero, so with a count that is a
    /// multiple of the batch size the end is after the last batch's commit, dispatch and checkpoint.
    /// </summary>
    public IEnumerable<BenchHero> HeroesOf(string key, string parentHeroId, int count)
    {
        var run = For(key);
        if (run.StartBegan == 0)
        {
            run.StartBegan = Stopwatch.GetTimestamp();
        }

        for (var i = 0; i < count; i++)
        {
            yield return new BenchHero($"{parentHeroId}-c{i}");
        }

        run.StartEnded = Stopwatch.GetTimestamp();
    }
}

/// <summary>A trivial child: one no-op step that tells the probe it ran.</summary>
[WorkflowName("bench_child")]
public sealed class FanOutChildWorkflow(FanOutProbe probe) : Workflow<BenchHero>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("run", () =>
        {
            probe.For(ParentWorkflowId!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)).ChildRan();
            return Task.CompletedTask;
        });
}

/// <summary>
/// The parent: starts one child per planned hero (batches of <see cref="BatchSize"/>), waits for all of them, and in its next
/// step notes when it woke and reads every child's outcome once.
/// </summary>
[WorkflowName("bench_parent")]
public sealed class FanOutParentWorkflow(FanOutProbe probe) : Workflow<BenchHero>
{
    public const int BatchSize = WorkflowBuilder.DefaultChildBatchSize;
    public const string Group = "start_all";

    private string Key => WorkflowId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override void Define(WorkflowBuilder steps)
    {
        steps.StartChildren<FanOutChildWorkflow, BenchHero>(Group, _ => probe.HeroesOf(Key, Hero.Id, probe.PlannedFor(Hero.Id)), batchSize: BatchSize);
        steps.WaitForChildren(ChildrenWait.All, TimeSpan.FromHours(1), WaitTimeout.Pause);
        steps.Step("after", async ct =>
        {
            var woke = Stopwatch.GetTimestamp();
            var run = probe.For(Key);
            var outcomes = await ChildrenAsync(Group, ct);
            run.OutcomesReadMs = Stopwatch.GetElapsedTime(woke).TotalMilliseconds;
            run.OutcomesFinished = outcomes.Count(o => o.State == WorkflowState.Finished);
            run.ParentWoke = woke; // last: the benchmark waits for it, then reads the rest
        });
    }
}

/// <summary>
/// The plain Hangfire shape of the same fan-out: a job enqueues N no-op jobs, and the one that brings an in-process counter to
/// N enqueues the "parent's next step" (a counter in memory is the cheapest fan-in there is: Hangfire has no join of its own).
/// </summary>
public sealed class PlainFanOut(FanOutProbe probe, IBackgroundJobClient client)
{
    public void Start(string run, int count)
    {
        var timed = probe.For(run);
        timed.StartBegan = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            client.Enqueue<PlainFanOut>(j => j.Child(run, count));
        }

        timed.StartEnded = Stopwatch.GetTimestamp();
    }

    public void Child(string run, int count)
    {
        if (probe.For(run).ChildRan() == count)
        {
            client.Enqueue<PlainFanOut>(j => j.After(run));
        }
    }

    public void After(string run) => probe.For(run).ParentWoke = Stopwatch.GetTimestamp();
}
