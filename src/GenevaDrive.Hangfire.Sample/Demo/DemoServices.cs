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

/// <summary>
/// A card processor that fails a customer's first few charges, as flaky services do, and that deduplicates
/// charges by idempotency key as real processors do: a second charge with a key it has seen returns the first
/// charge and moves no money. The payment workflow passes <see cref="StepContext.IdempotencyKey"/>, so a run that
/// takes over from a crashed worker (the same logical attempt) cannot charge twice.
/// </summary>
internal sealed class FlakyPaymentGateway(ILogger<FlakyPaymentGateway> logger)
{
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly ConcurrentDictionary<string, string> _chargesByKey = new();

    /// <summary>How many charges moved money (a duplicate key does not).</summary>
    public int ChargesMade => _chargesByKey.Count;

    public Task<string> ChargeAsync(Customer customer, decimal amount, string idempotencyKey, CancellationToken ct)
    {
        var attempt = _attempts.AddOrUpdate(customer.Id, 1, (_, n) => n + 1);
        if (attempt <= customer.CardFailures)
        {
            return Task.FromException<string>(new HttpRequestException($"Card processor answered 502 Bad Gateway for {customer.Name} (attempt {attempt})."));
        }

        var chargeId = $"ch_{_chargesByKey.Count + 1:D5}";
        if (!_chargesByKey.TryAdd(idempotencyKey, chargeId))
        {
            logger.LogInformation("Duplicate charge for {Customer} with key {Key} ignored; returning {Charge}", customer.Name, idempotencyKey, _chargesByKey[idempotencyKey]);
            return Task.FromResult(_chargesByKey[idempotencyKey]);
        }

        logger.LogInformation("Charged {Amount} to {Customer} as {Charge} (key {Key})", amount, customer.Name, chargeId, idempotencyKey);
        return Task.FromResult(chargeId);
    }
}

/// <summary>The newsletter's subscribers: a few thousand generated addresses, read in order after an index.</summary>
internal sealed class SubscriberList
{
    public const int Count = 3000;

    public async IAsyncEnumerable<(int Index, string Address)> After(int index,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = index + 1; i <= Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            if (i % 100 == 0)
            {
                // A page from the database.
                await Task.Yield();
            }

            yield return (i, $"reader{i:D4}@example.org");
        }
    }
}
