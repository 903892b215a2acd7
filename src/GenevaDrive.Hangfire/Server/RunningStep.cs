using System.Runtime.ExceptionServices;
using GenevaDrive.Execution;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Hangfire.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Server;

/// <summary>
/// One step job's run, carried in <see cref="PerformContext.Items"/> from the filter's claim, through the
/// job method (which runs user code inside a DI scope), to the filter's finalize.
/// <para>
/// While the body runs, a heartbeat renews the lease every fifth of <see cref="GenevaDriveOptions.LeaseTimeout"/>.
/// The body's token is <b>fenced</b>: it fires when Hangfire stops the server or aborts the job, when a
/// heartbeat finds the lease gone, and when no heartbeat has succeeded for <see cref="FenceAfterFraction"/>
/// of the lease — before anyone else may take the step over. A body that was stopped that way is
/// <i>interrupted</i>, not failed: no exception policy runs, the attempt is closed as interrupted and the
/// step is scheduled again at once.
/// </para>
/// </summary>
internal sealed class RunningStep
{
    public const string ItemKey = "GenevaDrive.RunningStep";

    /// <summary>A run that has not renewed its lease for this share of the lease stops its body.</summary>
    public const double FenceAfterFraction = 0.6;

    private readonly GenevaDriveRuntime _runtime;
    private readonly CancellationTokenSource _fence = new();
    private readonly CancellationTokenSource _heartbeatStop = new();
    private Task? _heartbeat;
    private IDisposable? _logScope;
    private string _jobId = "";
    private FinalizeReport? _report;
    private bool _handedBackToHangfire;

    public RunningStep(GenevaDriveRuntime runtime, ClaimResult claim)
    {
        _runtime = runtime;
        Claim = claim;
    }

    public ClaimResult Claim { get; }

    public StepDecision? Decision { get; private set; }

    private int _renewals;

    /// <summary>How many heartbeats renewed the lease so far.</summary>
    public int Renewals => Volatile.Read(ref _renewals);

    /// <summary>Fires when the run is fenced (lease lost, or not renewed for too long).</summary>
    public CancellationToken FenceToken => _fence.Token;

    /// <summary>Why the body's token was fenced, when it was.</summary>
    public string? FenceReason { get; private set; }

    public static RunningStep? From(PerformContext? context) =>
        context is not null && context.Items.TryGetValue(ItemKey, out var value) ? value as RunningStep : null;

    /// <summary>Starts the heartbeat that keeps the lease alive while the body runs, and the log scope.</summary>
    public void Begin(string jobId)
    {
        _jobId = jobId;
        if (!Claim.IsClaimed)
        {
            return;
        }

        var workflow = Claim.Workflow!;
        var execution = Claim.Execution!;
        _logScope = _runtime.Logger.BeginScope(LogScope(workflow, execution, jobId));
        // Started inline so its first wait is armed before Begin returns (a test clock may move right after).
        _heartbeat = HeartbeatLoopAsync(_heartbeatStop.Token);
    }

    /// <summary>The log scope of a step run, the same under Hangfire and under the test host.</summary>
    internal static Dictionary<string, object?> LogScope(WorkflowRecord workflow, StepExecutionRecord execution, string jobId) => new()
    {
        ["WorkflowType"] = workflow.Type,
        ["WorkflowId"] = workflow.Id,
        ["HeroType"] = workflow.HeroType,
        ["HeroId"] = workflow.HeroId,
        ["StepExecutionId"] = execution.Id,
        ["StepName"] = execution.StepName,
        ["HangfireJobId"] = jobId,
    };

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        var options = _runtime.Options;
        var time = options.TimeProvider;
        var execution = Claim.Execution!;
        var interval = options.HeartbeatInterval;
        var fenceAfter = options.LeaseTimeout * FenceAfterFraction;
        var lastRenewed = time.GetUtcNow();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (time.GetUtcNow() - lastRenewed >= fenceAfter)
            {
                // Woken late (the process was frozen, or the machine starved): stop before another worker may take over.
                Fence($"step execution {execution.Id} had not renewed its lease for {time.GetUtcNow() - lastRenewed:g} (lease {options.LeaseTimeout:g}); " +
                      "it stops before another worker may take it over");
                return;
            }

            try
            {
                // One beat may not eat the next: a hung connection is abandoned after half an interval.
                using var beat = CancellationTokenSource.CreateLinkedTokenSource(stop);
                beat.CancelAfter(interval / 2);
                if (await _runtime.Store.HeartbeatAsync(execution.Id, Claim.Workflow!.Id, execution.LeaseToken!, options.LeaseTimeout, beat.Token)
                        .ConfigureAwait(false) is { } mustStop)
                {
                    Fence(mustStop);
                    return;
                }

                lastRenewed = time.GetUtcNow();
                Interlocked.Increment(ref _renewals);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                RunningStepLog.HeartbeatFailed(_runtime.RunningStepLogger, e, execution.Id, e.Message);
            }

            if (time.GetUtcNow() - lastRenewed >= fenceAfter)
            {
                Fence($"step execution {execution.Id} could not renew its lease for {time.GetUtcNow() - lastRenewed:g} " +
                      $"(lease {options.LeaseTimeout:g}); it stops before another worker may take it over");
                return;
            }
        }
    }

    private void Fence(string reason)
    {
        FenceReason = reason;
        RunningStepLog.Fenced(_runtime.RunningStepLogger, reason);
        try
        {
            _fence.Cancel();
        }
        catch (AggregateException e)
        {
            // Callbacks registered by user code threw; the token is cancelled all the same.
            RunningStepLog.FenceCallbackThrew(_runtime.RunningStepLogger, e);
        }
    }

    /// <summary>
    /// The job method: runs the claimed step in a DI scope with a fenced token and records the decision for
    /// the filter. An interrupted run is finalized here and, when Hangfire stopped it, ends by throwing the
    /// cancellation so that Hangfire requeues the job (it then runs the new attempt).
    /// </summary>
    public async Task<string> ExecuteAsync(CancellationToken hangfireToken)
    {
        if (!Claim.IsClaimed)
        {
            return Claim.Reason;
        }

        using var body = CancellationTokenSource.CreateLinkedTokenSource(hangfireToken, _fence.Token);
        var scope = _runtime.Services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                Decision = await _runtime.Runner.RunAsync(Claim, scope.ServiceProvider, body.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Decision = body.IsCancellationRequested
                    ? StepExecutor.Interrupted(Claim.Execution!.StepName, InterruptionCause(hangfireToken))
                    : StepExecutor.Unexpected(Claim.Execution!.StepName, e);
            }
        }

        if (Decision.Completion.Outcome == StepOutcome.Interrupted && !Decision.Released)
        {
            // Hangfire requeues a job its server stopped (and re-runs one an operator requeued): that same job
            // runs the new attempt. A fenced run's job ends here, so the new attempt gets a job of its own.
            var hangfireStopped = hangfireToken.IsCancellationRequested;
            Decision = Decision with
            {
                Completion = Decision.Completion with { HandOverToJobId = hangfireStopped ? _jobId : null },
                ResultText = $"Interrupted: {InterruptionCause(hangfireToken)}; the step runs again as a new attempt",
            };
            _report = Finish(null);
            if (hangfireStopped)
            {
                _handedBackToHangfire = true;
                hangfireToken.ThrowIfCancellationRequested();
            }

            return _report?.ResultText ?? Decision.ResultText;
        }

        if (Decision.FailJobWith is { } failure)
        {
            // The filter records the failure; the exception fails the Hangfire job so the dashboard shows it.
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return Decision.ResultText;
    }

    private string InterruptionCause(CancellationToken hangfireToken) =>
        hangfireToken.IsCancellationRequested ? "the Hangfire server is stopping or the job was aborted" : FenceReason ?? "the run was fenced";

    /// <summary>
    /// Stops the heartbeat and records the outcome (the filter's OnPerformed). Null when there is nothing
    /// to report, or when the run was handed back to Hangfire for redelivery (its failure must stay unhandled).
    /// </summary>
    public FinalizeReport? End(Exception? jobException)
    {
        try
        {
            if (_handedBackToHangfire)
            {
                return null;
            }

            return _report ?? Finish(jobException);
        }
        finally
        {
            _logScope?.Dispose();
        }
    }

    private FinalizeReport? Finish(Exception? jobException)
    {
        StopHeartbeat();
        if (!Claim.IsClaimed)
        {
            return null;
        }

        var decision = Decision ?? StepExecutor.Unexpected(Claim.Execution!.StepName,
            jobException?.InnerException ?? jobException ?? new InvalidOperationException("The step job ended without running the step."));
        try
        {
            return WorkflowStore.Blocking(() => _runtime.Runner.FinalizeAsync(Claim, decision));
        }
        catch (Exception e) when (decision.Completion.Outcome == StepOutcome.Interrupted)
        {
            // The lease runs out and the step is taken over; the interruption must still reach Hangfire.
            RunningStepLog.InterruptionNotRecorded(_runtime.RunningStepLogger, e, Claim.Execution!.Id);
            return null;
        }
    }

    private void StopHeartbeat()
    {
        if (_heartbeat is null)
        {
            return;
        }

        _heartbeatStop.Cancel();
        try
        {
            // A beat in flight must not renew the lease after finalize has closed it.
            _heartbeat.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop catches its own faults; cancellation is all that can surface here.
        }

        _heartbeat = null;
    }
}
