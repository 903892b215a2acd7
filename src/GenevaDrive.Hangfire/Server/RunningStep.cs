using System.Runtime.ExceptionServices;
using GenevaDrive.Execution;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Hangfire.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Server;

/// <summary>
/// One step job's run, carried in <see cref="PerformContext.Items"/> from the filter's claim, through the
/// job method (which runs user code inside a DI scope), to the filter's finalize.
/// <para>
/// While the body runs, a heartbeat renews the lease every fifth of <see cref="GenevaDriveOptions.LeaseTimeout"/>,
/// and goes on until finalize has committed. The body's token is <b>fenced</b>: it fires when Hangfire stops the
/// server or aborts the job, when a heartbeat finds the lease gone or the workflow paused or canceled, and when no
/// heartbeat has succeeded for <see cref="FenceAfterFraction"/> of the lease — a timer armed at each renewal, so it
/// fires on time even while a heartbeat call hangs — before anyone else may take the step over. A body that was
/// stopped that way is <i>interrupted</i>, not failed: no exception policy runs, the attempt is closed as
/// interrupted and the step is scheduled again at once. <see cref="StopReason"/> says why the token fired.
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
    private ITimer? _fenceTimer;
    private CancellationToken _shutdownToken;
    private volatile bool _finalizing;
    private int _stopReason;
    private readonly StepExecutor.RunSignals _signals;
    private IDisposable? _logScope;
    private string _jobId = "";
    private FinalizeReport? _report;
    private bool _handedBackToHangfire;

    public RunningStep(GenevaDriveRuntime runtime, ClaimResult claim)
    {
        _runtime = runtime;
        Claim = claim;
        _signals = new StepExecutor.RunSignals { StopReason = () => StopReason };
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

    /// <summary>Why the body's token fired (<see cref="StepStopReason.None"/> while it has not).</summary>
    public StepStopReason StopReason => (StepStopReason)Volatile.Read(ref _stopReason);

    private void NoteStop(StepStopReason reason) => Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StepStopReason.None);

    public static RunningStep? From(PerformContext? context) =>
        context is not null && context.Items.TryGetValue(ItemKey, out var value) ? value as RunningStep : null;

    /// <summary>Starts the heartbeat that keeps the lease alive while the body runs, its fence timer, and the log scope.</summary>
    /// <param name="jobId">The Hangfire job.</param>
    /// <param name="shutdownToken">Hangfire's server shutdown token, to tell a shutdown from an aborted (deleted) job.</param>
    public void Begin(string jobId, CancellationToken shutdownToken = default)
    {
        _jobId = jobId;
        _shutdownToken = shutdownToken;
        if (!Claim.IsClaimed)
        {
            return;
        }

        var workflow = Claim.Workflow!;
        var execution = Claim.Execution!;
        _logScope = _runtime.Logger.BeginScope(LogScope(workflow, execution, jobId));
        // Armed before the first beat, from the claim's lease; every renewal pushes it back.
        var options = _runtime.Options;
        _fenceTimer = options.TimeProvider.CreateTimer(_ => Fence(StepStopReason.LeaseLost,
                $"step execution {execution.Id} could not renew its lease for {options.LeaseTimeout * FenceAfterFraction:g} (lease {options.LeaseTimeout:g}); " +
                "it stops before another worker may take it over"),
            null, options.LeaseTimeout * FenceAfterFraction, Timeout.InfiniteTimeSpan);
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

            try
            {
                // One beat may not eat the next: a hung connection is abandoned after half an interval. The fence timer
                // does not wait for it either way.
                using var beat = CancellationTokenSource.CreateLinkedTokenSource(stop);
                beat.CancelAfter(interval / 2);
                var sent = time.GetTimestamp();
                // A resumable step's progress since its last checkpoint travels with the beat (unless a checkpoint lands
                // meanwhile: the count read first guards the write), so a crash repeats at most one beat's worth of items.
                var progress = _signals.Resumable is { } resumable && !_finalizing
                    ? (Checkpoints: resumable.Checkpoints, Cursor: resumable.UnsavedCursor?.Invoke()?.Json)
                    : (Checkpoints: 0, Cursor: null);
                if (await _runtime.Store.HeartbeatAsync(execution.Id, Claim.Workflow!.Id, execution.LeaseToken!, options.LeaseTimeout, beat.Token,
                            progress.Cursor, progress.Checkpoints)
                        .ConfigureAwait(false) is { } mustStop)
                {
                    Fence(mustStop.Reason, mustStop.Text);
                    return;
                }

                // The lease now lasts from (at the earliest) the moment the beat was sent: fence before that runs out.
                var left = fenceAfter - time.GetElapsedTime(sent);
                if (left > TimeSpan.Zero)
                {
                    _fenceTimer?.Change(left, Timeout.InfiniteTimeSpan);
                }

                Interlocked.Increment(ref _renewals);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                RunningStepLog.HeartbeatFailed(_runtime.RunningStepLogger, e, execution.Id, e.Message);
            }
        }
    }

    private void Fence(StepStopReason reason, string text)
    {
        if (_finalizing || _fence.IsCancellationRequested)
        {
            // The body has returned (finalize is recording it) or was stopped already: nothing left to stop.
            return;
        }

        NoteStop(reason);
        FenceReason = text;
        RunningStepLog.Fenced(_runtime.RunningStepLogger, text);
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
        using var fromHangfire = hangfireToken.Register(() =>
            NoteStop(_shutdownToken.IsCancellationRequested || !_shutdownToken.CanBeCanceled ? StepStopReason.Shutdown : StepStopReason.JobDeleted));
        StepExecutor.Signals.Value = _signals;
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
        if (!Claim.IsClaimed)
        {
            StopHeartbeat();
            return null;
        }

        // The heartbeat goes on until finalize has committed: a finalize that retries through a database outage keeps
        // its lease meanwhile (a heartbeat cannot renew a closed attempt: its statement needs it in progress).
        _finalizing = true;
        try
        {
            return FinishClaimed(jobException);
        }
        finally
        {
            StopHeartbeat();
        }
    }

    private FinalizeReport? FinishClaimed(Exception? jobException)
    {
        var decision = Decision ?? StepExecutor.Unexpected(Claim.Execution!.StepName,
            jobException?.InnerException ?? jobException ?? new InvalidOperationException("The step job ended without running the step."));
        try
        {
            // Called from the filter's synchronous OnPerformed on the worker thread, which waits for the result: blocking
            // database calls (StoreIo.Blocking), as for the claim; the task has completed when it is returned.
            return _runtime.Runner.FinalizeAsync(Claim, decision, io: StoreIo.Blocking).GetAwaiter().GetResult();
        }
        catch (Exception e) when (decision.Completion.Outcome == StepOutcome.Interrupted)
        {
            // The lease runs out and the step is taken over; the interruption must still reach Hangfire.
            RunningStepLog.InterruptionNotRecorded(_runtime.RunningStepLogger, e, Claim.Execution!.Id);
            return null;
        }
        catch (Exception e) when (_runtime.Store.Dialect.IsTransient(e))
        {
            // An outage outlasted the finalize's budget. The step's row, not the job, decides what runs next: its lease
            // runs out and recovery runs it again, so the job is not turned red for a fault it cannot do anything about.
            // (A step that failed on its own still fails its job: the job method threw.)
            RunningStepLog.OutcomeNotRecorded(_runtime.RunningStepLogger, e, decision.Completion.Outcome.ToStored(), Claim.Execution!.Id);
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
        _fenceTimer?.Dispose();
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
