using System.Collections.Concurrent;

namespace GenevaDrive.Sample.Demo;

/// <summary>Stands in for an e-mail provider: writes what it would send to the log.</summary>
internal sealed class DemoMailer(ILogger<DemoMailer> logger)
{
    public Task SendAsync(Customer customer, string subject, CancellationToken ct)
    {
        logger.LogInformation("Mail to {Customer}: {Subject}", customer.Name, subject);
        return Task.CompletedTask;
    }
}

/// <summary>A card processor that fails a customer's first few charges, as flaky services do.</summary>
internal sealed class FlakyPaymentGateway
{
    private readonly ConcurrentDictionary<string, int> _attempts = new();

    public Task ChargeAsync(Customer customer, decimal amount, CancellationToken ct)
    {
        var attempt = _attempts.AddOrUpdate(customer.Id, 1, (_, n) => n + 1);
        return attempt <= customer.CardFailures
            ? Task.FromException(new HttpRequestException($"Card processor answered 502 Bad Gateway for {customer.Name} (attempt {attempt})."))
            : Task.CompletedTask;
    }
}
