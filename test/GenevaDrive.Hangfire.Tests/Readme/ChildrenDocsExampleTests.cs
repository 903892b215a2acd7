using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace GenevaDrive.Tests.Readme;

/// <summary>The fan-out example of docs/child-workflows.md runs as documented, on a real SQLite file.</summary>
public sealed class ChildrenDocsExampleTests
{
    [Test]
    public async Task MonthlyBilling_StartsAnInvoicePerInvoice_WaitsForThem_AndSumsTheirResults()
    {
        var month = new BillingMonth("2026-11/acme", [new Invoice("i-1", 10m), new Invoice("i-2", 32.5m), new Invoice("i-3", 7m)]);
        var invoicing = new Mock<IInvoicing>();
        invoicing.Setup(i => i.ChargeAsync(It.Is<Invoice>(x => x.Id == "i-2"), It.IsAny<CancellationToken>())).ThrowsAsync(new TimeoutException("card network"));
        await using var host = GenevaDrive.Testing.WorkflowTestHost.Create(
            o => o.UseSqlite($"Data Source={Path.Combine(Path.GetTempPath(), $"children-{Guid.NewGuid():N}.db")}")
                .AddWorkflow<MonthlyBillingWorkflow>().AddWorkflow<InvoiceWorkflow>()
                .AddHero<BillingMonth>(m => m.Id, (_, id, _) => Task.FromResult<BillingMonth?>(month))
                .AddHero<Invoice>(i => i.Id, (_, id, _) => Task.FromResult(month.Invoices.FirstOrDefault(i => i.Id == id))),
            s => s.AddSingleton(invoicing.Object));

        var parent = await host.Client.StartAsync<MonthlyBillingWorkflow>(month);
        await host.RunNextStepAsync(parent.Id);
        var children = await host.Client.GetChildrenAsync(parent.Id);
        foreach (var child in children.Where(c => c.HeroId != "i-2"))
        {
            await host.RunNextStepAsync(child.Id, advanceClock: false);
        }

        var i2 = children.Single(c => c.HeroId == "i-2");
        await host.RunNextStepAsync(i2.Id, advanceClock: false);                 // fails: reattempt in 5 minutes
        await host.Client.CancelAsync(i2.Id);                                    // an operator gives up on it
        var afterLast = await host.Client.GetCurrentExecutionAsync(parent.Id);
        var afterLastAt = host.Clock!.GetUtcNow().UtcDateTime;
        await host.RunToEndAsync(parent.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(children.Select(c => c.HeroId).OrderBy(h => h), Is.EqualTo(new[] { "i-1", "i-2", "i-3" }));
            Assert.That(afterLast!.StepName, Is.EqualTo("wait_for_bill_invoices"));
            Assert.That(afterLast.ScheduledFor, Is.LessThanOrEqualTo(afterLastAt), "the canceled last child woke the parent");
            Assert.That((await host.Client.GetAsync(parent.Id))!.State, Is.EqualTo(WorkflowState.Finished));
        });
        invoicing.Verify(i => i.SendStatementAsync(month, 17m, 1, It.IsAny<CancellationToken>()), Times.Once);
    }
}
