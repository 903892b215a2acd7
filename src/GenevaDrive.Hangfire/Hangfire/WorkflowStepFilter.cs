using Hangfire.Common;
using Hangfire.Server;

namespace GenevaDrive.Hangfire;

/// <summary>
/// The server filter around every <see cref="WorkflowStepJob"/>: claims the step execution before the job
/// method runs (one short transaction) and records the outcome after it (another), creating the next
/// step's job once that commits. Other jobs pass through untouched.
/// </summary>
internal sealed class WorkflowStepFilter : JobFilterAttribute, IServerFilter
{
    private readonly GenevaDriveRuntime _runtime;

    public WorkflowStepFilter(GenevaDriveRuntime runtime)
    {
        _runtime = runtime;
        Order = 0;
    }

    public GenevaDriveRuntime Runtime => _runtime;

    public void OnPerforming(PerformingContext context)
    {
        if (context.BackgroundJob.Job?.Type != typeof(WorkflowStepJob))
        {
            return;
        }

        _runtime.EnsureInitialized();
        var executionId = Convert.ToInt64(context.BackgroundJob.Job.Args[0], System.Globalization.CultureInfo.InvariantCulture);
        var claim = _runtime.Runner.ClaimAsync(executionId, context.BackgroundJob.Id).GetAwaiter().GetResult();
        var run = new StepRun(_runtime, claim);
        context.Items[StepRun.ItemKey] = run;
        run.Begin(context.BackgroundJob.Id);
    }

    public void OnPerformed(PerformedContext context)
    {
        if (StepRun.From(context) is not { } run)
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
}
