namespace GenevaDrive.CrashWorker;

/// <summary>The hero of the crash tests: just an id.</summary>
public sealed record Ticket(string Id);

/// <summary>Where the step body leaves its traces, and whether it hangs (in the process that gets killed).</summary>
public sealed class CrashSettings
{
    public required string MarkerDirectory { get; init; }

    public bool HangInStep { get; init; }

    /// <summary>For the resumable import: how long each item takes (a slow worker to freeze mid-iteration); zero for none.</summary>
    public TimeSpan ItemDelay { get; init; }
}

/// <summary>
/// One long step: it writes an "enter" marker (process id and time), then either hangs (in the worker that
/// is about to be killed) or finishes; a second step proves the workflow moves on.
/// </summary>
[WorkflowName("crashable")]
public sealed class CrashableWorkflow(CrashSettings settings) : Workflow<Ticket>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("long_step", async ct =>
        {
            var marker = Path.Combine(settings.MarkerDirectory, $"enter-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
            await File.WriteAllTextAsync(marker, $"{Environment.ProcessId} {DateTime.UtcNow:O}", ct);
            if (settings.HangInStep)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            await File.WriteAllTextAsync(marker + ".exit", DateTime.UtcNow.ToString("O"), ct);
        });
        steps.Step("after", () => File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, "after.txt"), "done"));
    }
}

/// <summary>
/// A resumable import of items 1…20 that checkpoints after every item. Each item leaves a marker naming the
/// process; in the worker that is about to be killed, item 8 hangs after its marker is written.
/// </summary>
[WorkflowName("crashable_resumable")]
public sealed class ResumableCrashWorkflow(CrashSettings settings) : Workflow<Ticket>
{
    public const int Items = 20;
    public const int HangAt = 8;

    protected override void Define(WorkflowBuilder steps)
    {
        steps.ResumableStep<int>("import", async (iteration, ct) =>
        {
            await File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, $"start-{Environment.ProcessId}-{iteration.Cursor}.txt"), "", ct);
            await iteration.ForEachAsync(Enumerable.Range(iteration.Cursor + 1, Items - iteration.Cursor).ToAsyncEnumerable(), item => item,
                async (item, token) =>
                {
                    if (settings.ItemDelay > TimeSpan.Zero)
                    {
                        await Task.Delay(settings.ItemDelay, token);
                    }

                    await File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, $"item-{item}-{Environment.ProcessId}.txt"), "", token);
                    if (settings.HangInStep && item == HangAt)
                    {
                        await Task.Delay(Timeout.Infinite, token);
                    }
                }, ct);
        }, checkpointEvery: TimeSpan.Zero);
    }
}

/// <summary>Waits for the event "go" between two steps; the second step leaves a marker with the event's payload.</summary>
[WorkflowName("crash_events")]
public sealed class EventWorkerWorkflow(CrashSettings settings) : Workflow<Ticket>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("before", ct => File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, $"before-{Environment.ProcessId}.txt"), "", ct));
        steps.WaitFor("go", TimeSpan.FromMinutes(2), WaitTimeout.Cancel);
        steps.Step("after", async ct =>
        {
            var payload = await ReceivedEventAsync<string>("go", ct);
            await File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, $"after-{Environment.ProcessId}-{payload}.txt"), "", ct);
        });
    }
}

/// <summary>
/// A fan-out of 300 children in batches of 10. In the worker that is about to be killed, every batch takes a while (its
/// heroes come slowly), so a SIGKILL lands while children are being started; each child leaves a marker per run.
/// </summary>
[WorkflowName("crash_fan_out")]
public sealed class FanOutCrashWorkflow(CrashSettings settings) : Workflow<Ticket>
{
    public const int Children = 300;

    protected override void Define(WorkflowBuilder steps)
    {
        steps.StartChildren<TicketChildWorkflow, Ticket>("start_all", HeroesAsync, batchSize: 10);
        steps.WaitForChildren(ChildrenWait.All, TimeSpan.FromMinutes(5), WaitTimeout.Cancel);
        steps.Step("after", () => File.WriteAllTextAsync(Path.Combine(settings.MarkerDirectory, "fan-out-after.txt"), "done"));
    }

    private async IAsyncEnumerable<Ticket> HeroesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        for (var i = 1; i <= Children; i++)
        {
            if (settings.HangInStep)
            {
                await Task.Delay(15, ct);
            }

            yield return new Ticket($"{Hero.Id}-{i:000}");
        }
    }
}

/// <summary>A child of the crash fan-out: one step that leaves a marker naming its hero and the process.</summary>
[WorkflowName("crash_fan_out_child")]
public sealed class TicketChildWorkflow(CrashSettings settings) : Workflow<Ticket>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("work", ct => File.WriteAllTextAsync(
            Path.Combine(settings.MarkerDirectory, $"child-{Hero.Id}-{Environment.ProcessId}-{Guid.NewGuid():N}.txt"), "", ct));
    }
}
