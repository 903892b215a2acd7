namespace GenevaDrive.Tests.Execution;

public sealed record Confirmation(string Code);

/// <summary>Sends a link, waits up to three days for the confirmation, then activates with the code it carried.</summary>
[WorkflowName("email_confirmation")]
public sealed class EmailConfirmationWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("send_link", () =>
        {
            probe.Record("send_link");
            return Task.CompletedTask;
        });
        steps.WaitFor("email_confirmed", TimeSpan.FromDays(3), WaitTimeout.Cancel);
        steps.Step("activate", async ct =>
        {
            var confirmation = await ReceivedEventAsync<Confirmation>("email_confirmed", ct);
            probe.Record($"activate:{confirmation?.Code ?? "none"}");
        });
    }
}

/// <summary>Waits for an approval that may never come: on timeout the workflow pauses, and Resume waits again.</summary>
[WorkflowName("approval")]
public sealed class ApprovalWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.WaitFor("approved", TimeSpan.FromHours(1));
        steps.Step("ship", async ct => probe.Record($"ship:{await ReceivedEventAsync<string>("approved", ct) ?? "none"}"));
    }
}

/// <summary>A step asks the next one to wait for an event; on timeout the next one runs without it.</summary>
[WorkflowName("gated_by_result")]
public sealed class GatedByResultWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("ask", () => StepResult.WaitFor("answer", TimeSpan.FromHours(2), WaitTimeout.Continue));
        steps.Step("proceed", async ct => probe.Record($"proceed:{await ReceivedEventAsync<string>("answer", ct) ?? "none"}"));
    }
}
