using System.Collections.Concurrent;
using GenevaDrive.Tests.Execution;

namespace GenevaDrive.Tests.Server;

/// <summary>What the end-to-end workflows did, and the switches that make them fail or wait.</summary>
public sealed class E2EProbe
{
    private int _concurrent;
    private int _maxConcurrent;

    public ConcurrentQueue<string> Events { get; } = new();

    public volatile bool FailCharge;

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int BodyEntries;

    public int MaxConcurrent => _maxConcurrent;

    public async Task GuardedAsync(Func<Task> body)
    {
        var now = Interlocked.Increment(ref _concurrent);
        int seen;
        while (now > (seen = _maxConcurrent) && Interlocked.CompareExchange(ref _maxConcurrent, now, seen) != seen)
        {
        }

        try
        {
            await body();
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }
}

[WorkflowName("e2e_onboarding")]
public sealed class E2EOnboardingWorkflow(E2EProbe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("welcome", () => { probe.Events.Enqueue("welcome"); return Task.CompletedTask; });
        steps.Step("nudge", () => { probe.Events.Enqueue("nudge"); return Task.CompletedTask; }, wait: TimeSpan.FromSeconds(1));
        steps.Step("done", () => { probe.Events.Enqueue("done"); return Task.CompletedTask; }, wait: TimeSpan.FromSeconds(1));
    }
}

[WorkflowName("e2e_payment")]
public sealed class E2EPaymentWorkflow(E2EProbe probe, Microsoft.Extensions.Logging.ILogger<E2EPaymentWorkflow> logger) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("charge", () =>
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "charging {Account}", Hero.Id);
            probe.Events.Enqueue("charge");
            return probe.FailCharge ? Task.FromException(new HttpRequestException("card processor said 502")) : Task.CompletedTask;
        });
        steps.Step("receipt", () => { probe.Events.Enqueue("receipt"); return Task.CompletedTask; });
    }
}

[WorkflowName("e2e_slow")]
public sealed class E2ESlowWorkflow(E2EProbe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("slow", () => probe.GuardedAsync(async () =>
        {
            Interlocked.Increment(ref probe.BodyEntries);
            await probe.Gate.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }));
}

/// <summary>A child of the end-to-end fan-out: records its run and a result (its hero id's length).</summary>
[WorkflowName("e2e_child")]
public sealed class E2EChildWorkflow(E2EProbe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("work", async ct =>
        {
            probe.Events.Enqueue($"child:{Hero.Id}");
            await RecordResultAsync(Hero.Id.Length, ct);
        });
    }
}

/// <summary>Starts twelve children in batches of five, waits for all, then records the sum of their results.</summary>
[WorkflowName("e2e_fan_out")]
public sealed class E2EFanOutWorkflow(E2EProbe probe, AccountDirectory accounts) : Workflow<Account>
{
    public const int Children = 12;

    protected override void Define(WorkflowBuilder steps)
    {
        steps.StartChildren<E2EChildWorkflow, Account>("start_all",
            _ => Enumerable.Range(1, Children).Select(i => accounts.Add($"{Hero.Id}-{i:00}")), batchSize: 5);
        steps.WaitForChildren(ChildrenWait.All, TimeSpan.FromMinutes(5), WaitTimeout.Cancel);
        steps.Step("summary", async ct =>
        {
            var children = await ChildrenAsync("start_all", ct);
            probe.Events.Enqueue($"summary:{children.Count(c => c.State == WorkflowState.Finished)}:{children.Sum(c => c.Result<int>())}");
        });
    }
}

