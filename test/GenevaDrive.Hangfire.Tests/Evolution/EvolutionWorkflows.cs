using System.Collections.Concurrent;
using GenevaDrive.Tests.Execution;

namespace GenevaDrive.Tests.Evolution;

/// <summary>Which build ran which step of which workflow (e.g. "v2:c").</summary>
public sealed class BuildProbe
{
    public ConcurrentQueue<(long WorkflowId, string Run)> Runs { get; } = new();

    public IReadOnlyList<string> Of(long workflowId) => Runs.Where(r => r.WorkflowId == workflowId).Select(r => r.Run).ToList();
}

/// <summary>
/// One workflow, "billing", as successive builds define it. Version 1: a → b (after an hour) → c → d. Each later
/// build changes it the way teams do; every build records the steps it runs.
/// </summary>
public abstract class BillingBase(BuildProbe probe) : Workflow<Account>
{
    protected abstract string Build { get; }

    protected Func<CancellationToken, Task> Runs(string step) => _ =>
    {
        probe.Runs.Enqueue((WorkflowId, $"{Build}:{step}"));
        return Task.CompletedTask;
    };
}

[WorkflowName("billing")]
public sealed class BillingV1(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "v1";

    protected override void Define(WorkflowBuilder steps) => steps
        .Step("a", Runs("a")).Step("b", Runs("b"), wait: TimeSpan.FromHours(1)).Step("c", Runs("c")).Step("d", Runs("d"));
}

/// <summary>b deleted without a declaration (the mistake the drift report and the refusals catch).</summary>
[WorkflowName("billing")]
public sealed class BillingRemoved(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "removed";

    protected override void Define(WorkflowBuilder steps) => steps.Step("a", Runs("a")).Step("c", Runs("c")).Step("d", Runs("d"));
}

/// <summary>b retired: its workflows continue at the step declared after it (c).</summary>
[WorkflowName("billing")]
public sealed class BillingRetired(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "retired";

    protected override void Define(WorkflowBuilder steps) => steps.Step("a", Runs("a")).Retired("b").Step("c", Runs("c")).Step("d", Runs("d"));
}

/// <summary>b renamed charge.</summary>
[WorkflowName("billing")]
public sealed class BillingRenamed(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "renamed";

    protected override void Define(WorkflowBuilder steps) => steps
        .Step("a", Runs("a")).Step("charge", Runs("charge"), wait: TimeSpan.FromHours(1)).Renamed("b", to: "charge").Step("c", Runs("c")).Step("d", Runs("d"));
}

/// <summary>A new step between b and c.</summary>
[WorkflowName("billing")]
public sealed class BillingInserted(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "inserted";

    protected override void Define(WorkflowBuilder steps) => steps
        .Step("a", Runs("a")).Step("b", Runs("b"), wait: TimeSpan.FromHours(1)).Step("b_half", Runs("b_half")).Step("c", Runs("c")).Step("d", Runs("d"));
}

/// <summary>c moved before b.</summary>
[WorkflowName("billing")]
public sealed class BillingReordered(BuildProbe probe) : BillingBase(probe)
{
    protected override string Build => "reordered";

    protected override void Define(WorkflowBuilder steps) => steps
        .Step("a", Runs("a")).Step("c", Runs("c")).Step("b", Runs("b"), wait: TimeSpan.FromHours(1)).Step("d", Runs("d"));
}
