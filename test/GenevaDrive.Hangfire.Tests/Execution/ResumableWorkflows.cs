namespace GenevaDrive.Tests.Execution;

/// <summary>Counts items 1…10 in a resumable step, recording each item and how each attempt started.</summary>
public abstract class CountingWorkflow(Probe probe) : Workflow<Account>
{
    public const int Items = 10;

    protected Probe Probe => probe;

    protected async Task CountAsync(StepIteration<int> iteration, CancellationToken ct)
    {
        probe.Contexts.Enqueue(CurrentStep!);
        probe.Record($"start:{iteration.Cursor}:{(iteration.Resumed ? "resumed" : "fresh")}:attempt {CurrentStep!.Attempt}");
        await iteration.ForEachAsync(Numbers(iteration.Cursor + 1, Items), item => item, async (item, token) =>
        {
            probe.MaybeFail($"item{item}");
            probe.Record($"item:{item}");
            if (probe.OnItem is { } onItem)
            {
                await onItem(item, token);
            }
        }, ct);
    }

    private static async IAsyncEnumerable<int> Numbers(int from, int to)
    {
        for (var i = from; i <= to; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }
}

[WorkflowName("resumable_counter")]
public sealed class ResumableCounterWorkflow(Probe probe) : CountingWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<int>("count", CountAsync, checkpointEvery: TimeSpan.Zero,
            onException: ExceptionPolicy.Reattempt(maxReattempts: 3));
        steps.Step("after", () =>
        {
            Probe.Record("after");
            return Task.CompletedTask;
        });
    }
}

[WorkflowName("rewinding_counter")]
public sealed class RewindingCounterWorkflow(Probe probe) : CountingWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<int>("count", CountAsync, checkpointEvery: TimeSpan.Zero,
            onException: ExceptionPolicy.Reattempt(maxReattempts: 3, rewind: true));
    }
}

[WorkflowName("rarely_checkpointing_counter")]
public sealed class RarelyCheckpointingCounterWorkflow(Probe probe) : CountingWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.ResumableStep<int>("count", CountAsync, checkpointEvery: TimeSpan.FromHours(1));
}

[WorkflowName("sliced_counter")]
public sealed class SlicedCounterWorkflow(Probe probe) : CountingWorkflow(probe)
{
    protected override void Define(WorkflowBuilder steps)
    {
        // Checkpoints only every 10 minutes: the slice still saves where the work stands before it yields.
        steps.ResumableStep<int>("count", CountAsync, maxRunTime: TimeSpan.FromMinutes(1), checkpointEvery: TimeSpan.FromMinutes(10));
    }
}

/// <summary>A keyset cursor over a "table" of ids, paged three at a time.</summary>
public sealed record AfterId(int Id);

[WorkflowName("paged_mailer")]
public sealed class PagedMailerWorkflow(Probe probe) : Workflow<Account>
{
    public static readonly int[] Ids = [3, 5, 8, 13, 21, 34, 55];

    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<AfterId?>("mail", (iteration, ct) => iteration.ForEachPageAsync(
            (after, _) => Task.FromResult<IReadOnlyList<int>>(Ids.Where(id => id > (after?.Id ?? 0)).Take(3).ToList()),
            id => new AfterId(id),
            async (id, token) =>
            {
                probe.MaybeFail($"id{id}");
                probe.Record($"mail:{id}");
                if (probe.OnItem is { } onItem)
                {
                    await onItem(id, token);
                }
            }, ct), checkpointEvery: TimeSpan.Zero, onException: ExceptionPolicy.Reattempt());
    }
}

/// <summary>A resumable step whose cursor grows past the limit.</summary>
[WorkflowName("oversized_cursor")]
public sealed class OversizedCursorWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<string>("hoard", (iteration, ct) => iteration.SetCursorAsync(new string('x', 5000), ct));
    }
}

/// <summary>Polls with a backoff of its own: the step asks to be reattempted until a probe says it is ready.</summary>
[WorkflowName("backoff_poller")]
public sealed class BackoffPollerWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("poll", () =>
        {
            probe.Contexts.Enqueue(CurrentStep!);
            return probe.Result();
        });
    }
}
