using System.Runtime.ExceptionServices;
using GenevaDrive.Execution;
using GenevaDrive.Storage;
using Hangfire.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Hangfire;

/// <summary>
/// One step job's run, carried in <see cref="PerformContext.Items"/> from the filter's claim, through the
/// job method (which runs user code inside a DI scope), to the filter's finalize.
/// </summary>
internal sealed class StepRun
{
    public const string ItemKey = "GenevaDrive.StepRun";

    private readonly GenevaDriveRuntime _runtime;
    private ITimer? _heartbeat;
    private IDisposable? _logScope;

    public StepRun(GenevaDriveRuntime runtime, ClaimResult claim)
    {
        _runtime = runtime;
        Claim = claim;
    }

    public ClaimResult Claim { get; }

    public StepDecision? Decision { get; private set; }

    public static StepRun? From(PerformContext? context) =>
        context is not null && context.Items.TryGetValue(ItemKey, out var value) ? value as StepRun : null;

    /// <summary>Starts the heartbeat that keeps the lease alive while the body runs, and the log scope.</summary>
    public void Begin(string jobId)
    {
        if (!Claim.IsClaimed)
        {
            return;
        }

        var workflow = Claim.Workflow!;
        var execution = Claim.Execution!;
        _logScope = _runtime.Logger.BeginScope(new Dictionary<string, object?>
        {
            ["WorkflowType"] = workflow.Type,
            ["WorkflowId"] = workflow.Id,
            ["HeroType"] = workflow.HeroType,
            ["HeroId"] = workflow.HeroId,
            ["StepExecutionId"] = execution.Id,
            ["StepName"] = execution.StepName,
            ["HangfireJobId"] = jobId,
        });
        var interval = _runtime.Options.HeartbeatInterval;
        _heartbeat = _runtime.Options.TimeProvider.CreateTimer(_ => Beat(), null, interval, interval);
    }

    private void Beat()
    {
        try
        {
            var execution = Claim.Execution!;
            var alive = _runtime.Store.HeartbeatAsync(execution.Id, execution.LeaseToken!, _runtime.Options.LeaseTimeout)
                .GetAwaiter().GetResult();
            if (!alive)
            {
                _runtime.Logger.LogWarning("Step execution {StepExecutionId} lost its lease while running; its result will be discarded.", execution.Id);
                _heartbeat?.Dispose();
            }
        }
        catch (Exception e)
        {
            // A missed heartbeat is retried at the next tick; only a lease that expires is lost.
            _runtime.Logger.LogWarning(e, "Heartbeat of step execution {StepExecutionId} failed.", Claim.Execution!.Id);
        }
    }

    /// <summary>The job method: runs the claimed step in a DI scope and records the decision for the filter.</summary>
    public async Task<string> ExecuteAsync(CancellationToken cancellationToken)
    {
        if (!Claim.IsClaimed)
        {
            return Claim.Reason;
        }

        var scope = _runtime.Services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                Decision = await _runtime.Runner.RunAsync(Claim, scope.ServiceProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Decision = StepRunner.Unexpected(Claim.Execution!.StepName, e);
            }
        }

        if (Decision.FailJobWith is { } failure)
        {
            // The filter records the failure; the exception fails the Hangfire job so the dashboard shows it.
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return Decision.ResultText;
    }

    /// <summary>Stops the heartbeat and records the outcome (the filter's OnPerformed).</summary>
    public FinalizeReport? End(Exception? jobException)
    {
        _heartbeat?.Dispose();
        try
        {
            if (!Claim.IsClaimed)
            {
                return null;
            }

            var decision = Decision ?? StepRunner.Unexpected(Claim.Execution!.StepName,
                jobException?.InnerException ?? jobException ?? new InvalidOperationException("The step job ended without running the step."));
            return _runtime.Runner.FinalizeAsync(Claim, decision).GetAwaiter().GetResult();
        }
        finally
        {
            _logScope?.Dispose();
        }
    }
}
