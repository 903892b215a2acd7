using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;

namespace GenevaDrive.Benchmarks;

/// <summary>What the jobs and steps of one run did: how many finished, and when each chain link ran.</summary>
public sealed class BenchProbe
{
    private int _done;

    public int Done => Volatile.Read(ref _done);

    public ConcurrentDictionary<int, long> LinkTimes { get; } = new();

    public void Complete() => Interlocked.Increment(ref _done);

    public void Link(int index) => LinkTimes[index] = Stopwatch.GetTimestamp();

    public void Reset()
    {
        Interlocked.Exchange(ref _done, 0);
        LinkTimes.Clear();
    }
}

/// <summary>The plain Hangfire side: a no-op job, and a job that enqueues the next link of a chain.</summary>
public sealed class PlainJobs(BenchProbe probe, IBackgroundJobClient client)
{
    public void Noop() => probe.Complete();

    /// <summary>
    /// A 4-job chain, each job enqueueing the next: the plain Hangfire shape of a 4-step workflow, with the arguments
    /// of a step job (execution id, workflow name, workflow id, step name), which Hangfire deserializes on every state change.
    /// </summary>
    public void Chain(long executionId, string workflowName, long workflowId, string stepName)
    {
        probe.Complete();
        var index = stepName[^1] - '0';
        if (index + 1 < 4)
        {
            client.Enqueue<PlainJobs>(j => j.Chain(executionId + 1, workflowName, workflowId, $"step_{index + 1}"));
        }
    }

    public void Link(int index, int total)
    {
        probe.Link(index);
        if (index + 1 < total)
        {
            client.Enqueue<PlainJobs>(j => j.Link(index + 1, total));
        }
        else
        {
            probe.Complete();
        }
    }
}

/// <summary>The hero of the benchmark workflows: just an id.</summary>
public sealed record BenchHero(string Id);

/// <summary>Four no-op steps with no waits.</summary>
[WorkflowName("bench_four")]
public sealed class FourStepWorkflow(BenchProbe probe) : Workflow<BenchHero>
{
    protected override void Define(WorkflowBuilder steps)
    {
        for (var i = 0; i < 4; i++)
        {
            steps.Step($"step_{i}", () => { probe.Complete(); return Task.CompletedTask; });
        }
    }
}

/// <summary>A chain of zero-wait steps, each recording when it ran.</summary>
[WorkflowName("bench_chain")]
public sealed class ChainWorkflow(BenchProbe probe) : Workflow<BenchHero>
{
    public const int Links = 200;

    protected override void Define(WorkflowBuilder steps)
    {
        for (var i = 0; i < Links; i++)
        {
            var index = i;
            steps.Step($"link_{i}", () =>
            {
                probe.Link(index);
                if (index == Links - 1)
                {
                    probe.Complete();
                }

                return Task.CompletedTask;
            });
        }
    }
}
