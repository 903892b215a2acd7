namespace GenevaDrive;

/// <summary>
/// The thresholds of the GenevaDrive health check (<c>services.AddHealthChecks().AddGenevaDrive()</c>). The check reports
/// Unhealthy (or the registration's failure status) when the storage cannot be reached or its schema is older than this
/// build needs, and Degraded when any of the conditions below holds; each result carries its figures as data.
/// </summary>
public sealed class GenevaDriveHealthCheckOptions
{
    /// <summary>
    /// A step still scheduled this long after it was due is overdue (default 5 minutes): Hangfire's workers or its
    /// schedule poller are not keeping up, or the step's job is missing and the reconciler has not re-created it.
    /// </summary>
    public TimeSpan OverdueAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A performing step whose lease ran out this long ago is reported (default 2 minutes): its worker is gone, and the
    /// reconciler, which recovers such steps at every run, has not.
    /// </summary>
    public TimeSpan ExpiredLeaseGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The reconciler's recurring job (<c>genevadrive:reconcile</c>) must have run within this time (default 10 minutes);
    /// a job not run yet counts from when it was registered.
    /// </summary>
    public TimeSpan ReconcilerSilence { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the check waits for the storage before it reports it unreachable (default 5 seconds).</summary>
    public TimeSpan StorageTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether in-flight workflows standing at steps this build does not define make the check Degraded (default true).</summary>
    public bool ReportDefinitionDrift { get; set; } = true;

    internal void Validate()
    {
        foreach (var (name, value) in new[]
                 {
                     (nameof(OverdueAfter), OverdueAfter), (nameof(ExpiredLeaseGrace), ExpiredLeaseGrace),
                     (nameof(ReconcilerSilence), ReconcilerSilence), (nameof(StorageTimeout), StorageTimeout),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value,
                    $"GenevaDriveHealthCheckOptions.{name} must be positive; {value} is not. Leave it at its default or give a positive time.");
            }
        }
    }
}
