using Hangfire;
using Hangfire.Server;
using GenevaDrive.Registration;

namespace GenevaDrive;

/// <summary>
/// GenevaDrive's recurring Hangfire jobs: <c>genevadrive:reconcile</c> (every minute by default) and
/// <c>genevadrive:cleanup</c> (hourly). Each run's counts are its result in the dashboard.
/// <para>
/// Public only because Hangfire stores its type and method in every job it creates (and must find them again in
/// another process); it is not for application code, so IntelliSense hides it.
/// </para>
/// </summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class WorkflowMaintenanceJob
{
    /// <summary>Re-creates missing step jobs and recovers steps whose worker died.</summary>
    /// <param name="context">Supplied by Hangfire.</param>
    /// <returns>The counts.</returns>
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    [JobDisplayName("GenevaDrive reconcile")]
    public async Task<string> ReconcileAsync(PerformContext? context) =>
        (await Runtime(context).Maintenance.ReconcileAsync().ConfigureAwait(false)).ToString();

    /// <summary>Deletes ended workflows past their retention, in batches.</summary>
    /// <param name="context">Supplied by Hangfire.</param>
    /// <returns>The counts.</returns>
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    [JobDisplayName("GenevaDrive cleanup")]
    public async Task<string> CleanupAsync(PerformContext? context) =>
        (await Runtime(context).Maintenance.CleanupAsync().ConfigureAwait(false)).ToString();

    private static GenevaDriveRuntime Runtime(PerformContext? context) =>
        context is not null && context.Items.TryGetValue(GenevaDrive.Server.WorkflowStepFilter.RuntimeItemKey, out var runtime) && runtime is GenevaDriveRuntime r
            ? r
            : throw new InvalidOperationException(
                "GenevaDrive maintenance jobs need the GenevaDrive job filter; call UseGenevaDrive on the Hangfire configuration of this server.");
}
