// Code shown in docs/child-workflows.md, compiled here; ReadmeExampleTests checks each block verbatim.
namespace GenevaDrive.Tests.Readme;

/// <summary>A customer's month to bill (the parent's hero) and one invoice of it (a child's hero).</summary>
public sealed record BillingMonth(string Id, IReadOnlyList<Invoice> Invoices);

public sealed record Invoice(string Id, decimal Amount);

public interface IInvoicing
{
    Task<string> ChargeAsync(Invoice invoice, CancellationToken ct);

    Task SendStatementAsync(BillingMonth month, decimal charged, int failed, CancellationToken ct);
}

// README:BEGIN children
[WorkflowName("monthly_billing")]
public sealed class MonthlyBillingWorkflow(IInvoicing invoicing) : Workflow<BillingMonth>
{
    protected override void Define(WorkflowBuilder steps)
    {
        // One InvoiceWorkflow per invoice, 100 per transaction; a crash half-way starts none twice.
        steps.StartChildren<InvoiceWorkflow, Invoice>("bill_invoices", ct => Hero.Invoices);

        // No job polls: the last invoice to end wakes this step.
        steps.WaitForChildren(ChildrenWait.All, timeout: TimeSpan.FromDays(2), onTimeout: WaitTimeout.Pause,
            onChildCanceled: ChildTrouble.Ignore, onChildPaused: ChildTrouble.PauseParent);

        steps.Step("send_statement", async ct =>
        {
            var invoices = await ChildrenAsync("bill_invoices", ct);
            var charged = invoices.Where(i => i.State == WorkflowState.Finished).Sum(i => i.Result<decimal>());
            var failed = invoices.Count(i => i.State == WorkflowState.Canceled);
            await invoicing.SendStatementAsync(Hero, charged, failed, ct);
        });
    }
}

[WorkflowName("invoice")]
public sealed class InvoiceWorkflow(IInvoicing invoicing) : Workflow<Invoice>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("charge", async ct =>
        {
            await invoicing.ChargeAsync(Hero, ct);
            await RecordResultAsync(Hero.Amount, ct);   // read by the parent with Result<decimal>()
        }, onException: ExceptionPolicy.Reattempt(wait: TimeSpan.FromMinutes(5), maxReattempts: 3));
    }
}
// README:END
