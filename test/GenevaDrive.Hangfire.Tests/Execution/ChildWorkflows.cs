namespace GenevaDrive.Tests.Execution;

/// <summary>A child: records its hero, records a result (its hero id's length) and returns what the probe says.</summary>
[WorkflowName("child_bill")]
public sealed class BillChildWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("bill", async ct =>
        {
            probe.Record($"bill:{Hero.Id}");
            await RecordResultAsync(Hero.Id.Length, ct);
            return probe.ChildResult(Hero.Id);
        });
    }
}

/// <summary>
/// A parent: starts probe.ChildCount children (one per account "{hero}-c{i}") in batches of two, waits for them as the
/// derived class says, then sums the children's results.
/// </summary>
public abstract class FanOutWorkflow(Probe probe, AccountDirectory accounts) : Workflow<Account>
{
    protected virtual ChildrenWait Until => ChildrenWait.All;

    protected virtual ChildTrouble OnCanceled => ChildTrouble.Ignore;

    protected virtual ChildTrouble OnPaused => ChildTrouble.Ignore;

    protected virtual bool CancelWithParent => true;

    protected override void Define(WorkflowBuilder steps)
    {
        steps.StartChildren<BillChildWorkflow, Account>("bill_all",
            _ => Enumerable.Range(1, probe.ChildCount).Select(i => accounts.Add($"{Hero.Id}-c{i}")), CancelWithParent, batchSize: 2);
        steps.WaitForChildren(Until, TimeSpan.FromHours(1), onChildCanceled: OnCanceled, onChildPaused: OnPaused);
        steps.Step("sum", async ct =>
        {
            var children = await ChildrenAsync("bill_all", ct);
            probe.Record($"sum:{children.Where(c => c.State == WorkflowState.Finished).Sum(c => c.Result<int>())}");
            probe.Record("states:" + string.Join(",", children.Select(c => c.State.ToString().ToLowerInvariant())));
        });
    }
}

[WorkflowName("fan_out_all")]
public sealed class FanOutAllWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts);

[WorkflowName("fan_out_any")]
public sealed class FanOutAnyWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts)
{
    protected override ChildrenWait Until => ChildrenWait.Any;
}

[WorkflowName("fan_out_two")]
public sealed class FanOutTwoWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts)
{
    protected override ChildrenWait Until => ChildrenWait.AtLeast(2);
}

[WorkflowName("fan_out_strict")]
public sealed class FanOutStrictWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts)
{
    protected override ChildTrouble OnCanceled => ChildTrouble.FailWait;
}

[WorkflowName("fan_out_pause")]
public sealed class FanOutPauseWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts)
{
    protected override ChildTrouble OnPaused => ChildTrouble.PauseParent;
}

[WorkflowName("fan_out_keep")]
public sealed class FanOutKeepWorkflow(Probe probe, AccountDirectory accounts) : FanOutWorkflow(probe, accounts)
{
    protected override bool CancelWithParent => false;
}
