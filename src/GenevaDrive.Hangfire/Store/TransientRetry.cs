using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// Retries a whole short transaction when the database reports a transient fault (deadlock victim,
/// serialization failure, lock timeout, broken connection, failover, "starting up"), with jittered
/// exponential backoff, until a total time budget is spent. The operation is re-run from the start —
/// a new connection, a new transaction — so it must be safe to repeat; the store makes claim and
/// finalize recognise their own earlier commit for that reason.
/// </summary>
internal sealed class TransientRetry
{
    private static readonly ResiliencePropertyKey<long> StartedKey = new("GenevaDrive.RetryStarted");

    private readonly ResiliencePipeline _pipeline;

    public TransientRetry(Func<Exception, bool> isTransient, TimeSpan budget, ILogger? logger = null,
        TimeSpan? firstDelay = null, TimeSpan? maxDelay = null)
    {
        Budget = budget;
        var log = logger ?? NullLogger.Instance;
        _pipeline = new ResiliencePipelineBuilder
        {
            // Backoff is real time: a fake test clock must not freeze retries.
            TimeProvider = TimeProvider.System,
        }.AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = firstDelay ?? TimeSpan.FromMilliseconds(50),
            MaxDelay = maxDelay ?? TimeSpan.FromSeconds(2),
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && e is not OperationCanceledException && isTransient(e) &&
                Stopwatch.GetElapsedTime(args.Context.Properties.GetValue(StartedKey, 0L)) < budget),
            OnRetry = args =>
            {
                GenevaDrive.Logging.StorageLog.RetryingTransaction(log, args.Outcome.Exception, args.Outcome.Exception?.Message,
                    (int)args.RetryDelay.TotalMilliseconds, args.AttemptNumber + 2);
                return default;
            },
        }).Build();
    }

    /// <summary>How long faults are retried before the last one is thrown.</summary>
    public TimeSpan Budget { get; }

    /// <summary>
    /// Runs <paramref name="operation"/>, again from the start after each transient fault. The operation
    /// receives the attempt number (0 for the first) so a repeat can look for its own earlier commit.
    /// </summary>
    public async Task<T> ExecuteAsync<T>(Func<int, CancellationToken, Task<T>> operation, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(StartedKey, Stopwatch.GetTimestamp());
        try
        {
            return await _pipeline.ExecuteAsync(
                static async (ctx, state) => await state.operation(state.counter.Next(), ctx.CancellationToken).ConfigureAwait(false),
                context, (operation, counter: new AttemptCounter())).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private sealed class AttemptCounter
    {
        private int _next;

        public int Next() => _next++;
    }
}
