using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Hangfire.Client;
using Hangfire.Common;
using Hangfire.Server;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Extensions.Logging;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Server;

/// <summary>
/// The server filter around every <see cref="WorkflowStepJob"/>: claims the step execution before the job
/// method runs (one short transaction) and records the outcome after it (another), creating the next
/// step's job once that commits. Other jobs pass through untouched.
/// </summary>
internal sealed class WorkflowStepFilter : JobFilterAttribute, IServerFilter, IApplyStateFilter, IClientFilter
{
    public const string RuntimeItemKey = "GenevaDrive.Runtime";

    private readonly GenevaDriveRuntime _runtime;

    public WorkflowStepFilter(GenevaDriveRuntime runtime)
    {
        _runtime = runtime;
        Order = 0;
    }

    public void OnPerforming(PerformingContext context)
    {
        if (context.BackgroundJob.Job?.Type == typeof(WorkflowMaintenanceJob))
        {
            _runtime.EnsureInitialized();
            context.Items[RuntimeItemKey] = _runtime;
            return;
        }

        if (context.BackgroundJob.Job?.Type != typeof(WorkflowStepJob))
        {
            return;
        }

        _runtime.EnsureInitialized();
        var claim = ReadExecutionId(context.BackgroundJob.Job.Args, out var executionId) is { } problem
            ? new ClaimResult(ClaimOutcome.NotFound, problem + " Nothing runs; delete this job.")
            // Hangfire's filter interface is synchronous and the worker thread waits for the claim here: the claim makes
            // blocking database calls (StoreIo.Blocking), so no round trip hops to the thread pool and back.
            : _runtime.Runner.ClaimAsync(executionId, context.BackgroundJob.Id, CancellationToken.None,
                // The job's arguments carry the workflow id: the claim locks its row directly (checked against the execution).
                StepJobLabel.ReadWorkflowId(context.BackgroundJob.Job) is > 0 and var workflowId ? workflowId : null,
                StoreIo.Blocking)
                .GetAwaiter().GetResult();
        var run = new RunningStep(_runtime, claim);
        context.Items[RunningStep.ItemKey] = run;
        run.Begin(context.BackgroundJob.Id, context.CancellationToken.ShutdownToken);
    }

    public void OnPerformed(PerformedContext context)
    {
        if (RunningStep.From(context) is not { } run)
        {
            return;
        }

        var report = run.End(context.Exception);
        if (report is not null && context.Exception is not null && report.FailJobWith is null)
        {
            // The run's failure did not pause or cancel the workflow after all (its lease was lost, or the
            // workflow changed meanwhile): the job needn't be red.
            context.ExceptionHandled = true;
        }
    }

    /// <summary>
    /// Deleting a scheduled, enqueued or processing step job (from the dashboard or the API) pauses its workflow, so a
    /// step is never stranded silently, and a running one is stopped rather than run again by another job. Deletions
    /// GenevaDrive makes itself carry a reason prefix and are ignored.
    /// </summary>
    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
        if (context.NewState is not DeletedState deleted ||
            context.BackgroundJob.Job?.Type != typeof(WorkflowStepJob) ||
            (context.OldStateName != ScheduledState.StateName && context.OldStateName != EnqueuedState.StateName &&
             context.OldStateName != ProcessingState.StateName) ||
            deleted.Reason?.StartsWith(HangfireStepJobDispatcher.DeletionReasonPrefix, StringComparison.Ordinal) == true)
        {
            return;
        }

        try
        {
            if (ReadExecutionId(context.BackgroundJob.Job.Args, out var executionId) is not null)
            {
                return;
            }

            _runtime.Maintenance.PauseForDeletedJobAsync(executionId, context.BackgroundJob.Id).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            // The deletion itself must go through; the reconciler does not re-create jobs of paused workflows.
            FilterLog.PauseForDeletedJobFailed(_runtime.FilterLogger, e, context.BackgroundJob.Id);
        }
    }

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
    }

    /// <summary>Refuses to create a step job whose execution id is not a positive integer (a hand-made job).</summary>
    public void OnCreating(CreatingContext context)
    {
        if (context.Job.Type == typeof(WorkflowStepJob) && ReadExecutionId(context.Job.Args, out _) is { } problem)
        {
            throw new ArgumentException(problem + " Start workflows with IWorkflowClient.StartAsync; step jobs are created by GenevaDrive.", "job");
        }
    }

    public void OnCreated(CreatedContext context)
    {
    }

    /// <summary>
    /// The step execution id argument must be a positive integer; a value such as 1.5 or -3 is refused
    /// rather than coerced into the id of some other execution. Returns the problem, or null.
    /// </summary>
    internal static string? ReadExecutionId(IReadOnlyList<object?> args, out long executionId)
    {
        var value = args.Count > 0 ? args[0] : null;
        var parsed = value switch
        {
            long l => l,
            int i => i,
            short s => s,
            uint u => u,
            string text when long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) => number,
            _ => 0,
        };
        executionId = parsed > 0 ? parsed : 0;
        return executionId > 0
            ? null
            : $"A GenevaDrive step job's first argument must be a positive integer step execution id; this job has '{EchoedValue.Of(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture))}' ({value?.GetType().Name ?? "null"}).";
    }
}
