using System.Globalization;
using GenevaDrive.Logging;
using GenevaDrive.Registration;
using GenevaDrive.Store;
using Hangfire.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GenevaDrive.Health;

/// <summary>
/// What an operator's probe asks of GenevaDrive: can it reach its tables, and is work moving? Unreachable storage or an
/// old schema is the registration's failure status; work that is not moving (overdue steps, workers gone without
/// recovery, a silent reconciler, definition drift) is Degraded, each with its figures in the result's data. Every query
/// is bounded (a sample of at most <see cref="Sample"/> rows), so the probe stays cheap on a large store.
/// </summary>
internal sealed class GenevaDriveHealthCheck(GenevaDriveRuntime runtime, GenevaDriveHealthCheckOptions options) : IHealthCheck
{
    /// <summary>The most rows a probe reads of each kind; more are reported as "at least".</summary>
    public const int Sample = 100;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var dialect = runtime.Dialect;
        var data = new Dictionary<string, object> { ["storage"] = dialect.Name };
        int? installed;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.StorageTimeout);
            installed = await dialect.ReadInstalledSchemaVersionAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus,
                $"GenevaDrive cannot reach its {dialect.Name} storage: {e.Message}", e, data);
        }

        var needed = dialect.SchemaVersion;
        data["schemaVersion"] = installed ?? 0;
        if (needed is { } version)
        {
            data["schemaVersionNeeded"] = version;
            if ((installed ?? 0) < version)
            {
                return new HealthCheckResult(context.Registration.FailureStatus,
                    $"GenevaDrive's schema in {dialect.Name} is at version {installed ?? 0}; this build needs {version}. Run the installer (PrepareSchemaIfNecessary) or the DBA script.",
                    data: data);
            }
        }

        var problems = new List<string>();
        var now = UtcTimes.Now(runtime.Options.TimeProvider);
        await CheckOverdueAsync(now, data, problems, cancellationToken).ConfigureAwait(false);
        await CheckExpiredLeasesAsync(now, data, problems, cancellationToken).ConfigureAwait(false);
        CheckReconciler(now, data, problems);
        if (options.ReportDefinitionDrift && runtime.Drift.Peek() is { } drift)
        {
            data["definitionDrift"] = drift.ProblemCount;
            if (drift.ProblemCount > 0)
            {
                problems.Add($"{drift.ProblemCount} in-flight workflow(s) stand at steps this build neither defines nor declares (see the Workflows page's banner).");
            }
        }

        return problems.Count == 0
            ? HealthCheckResult.Healthy($"GenevaDrive's {dialect.Name} storage is reachable at schema version {installed}, and work is moving.", data)
            : HealthCheckResult.Degraded(string.Join(" ", problems), data: data);
    }

    private async Task CheckOverdueAsync(DateTime now, Dictionary<string, object> data, List<string> problems, CancellationToken ct)
    {
        var overdue = await runtime.Store.GetDueScheduledAsync(now - options.OverdueAfter, Sample, ct).ConfigureAwait(false);
        data["overdueSteps"] = overdue.Count;
        if (overdue.Count > 0)
        {
            var oldest = overdue.Min(e => e.ScheduledFor);
            data["oldestOverdueDueAt"] = oldest;
            problems.Add($"{AtLeast(overdue.Count)} step(s) due more than {Durations.Describe(options.OverdueAfter)} ago have not started (the oldest was due " +
                         $"{oldest.ToString("u", CultureInfo.InvariantCulture)}): Hangfire's workers or schedule poller are not keeping up, or step jobs are missing and the reconciler has not re-created them.");
        }
    }

    private async Task CheckExpiredLeasesAsync(DateTime now, Dictionary<string, object> data, List<string> problems, CancellationToken ct)
    {
        var expired = (await runtime.Store.GetExpiredLeasesAsync(Sample, ct).ConfigureAwait(false))
            .Where(e => e.LeaseExpiresAt is { } at && at < now - options.ExpiredLeaseGrace)
            .ToList();
        data["expiredLeases"] = expired.Count;
        if (expired.Count > 0)
        {
            var oldest = expired.Min(e => e.LeaseExpiresAt!.Value);
            data["oldestLeaseExpiredAt"] = oldest;
            problems.Add($"{AtLeast(expired.Count)} performing step(s) lost their worker: the lease ran out more than {Durations.Describe(options.ExpiredLeaseGrace)} ago " +
                         $"(the oldest at {oldest.ToString("u", CultureInfo.InvariantCulture)}), and the reconciler, which recovers them, has not.");
        }
    }

    private void CheckReconciler(DateTime now, Dictionary<string, object> data, List<string> problems)
    {
        if (!runtime.RegistersRecurringJobs)
        {
            return;
        }

        RecurringJobDto? job;
        try
        {
            using var connection = runtime.HangfireStorage.GetConnection();
            job = connection.GetRecurringJobs([GenevaDriveRuntime.ReconcileJobId]).FirstOrDefault();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException)
        {
            data["reconciler"] = "unknown: " + e.Message;
            return;
        }

        if (job is null || job.Removed)
        {
            data["reconciler"] = "not registered";
            problems.Add($"The reconciler's recurring job '{GenevaDriveRuntime.ReconcileJobId}' is not registered in Hangfire: it is registered when GenevaDrive starts (AddGenevaDrive's hosted service, or UseGenevaDrive).");
            return;
        }

        var last = job.LastExecution ?? job.CreatedAt;
        data["reconcilerLastRun"] = (object?)job.LastExecution ?? "never";
        if (last is { } at && now - at > options.ReconcilerSilence)
        {
            problems.Add($"The reconciler has not run for more than {Durations.Describe(options.ReconcilerSilence)} (last {(job.LastExecution is null ? "registered" : "run")} " +
                         $"{at.ToString("u", CultureInfo.InvariantCulture)}): is a Hangfire server processing the queue of '{GenevaDriveRuntime.ReconcileJobId}'?");
        }
    }

    private static string AtLeast(int count) => count >= Sample ? $"At least {count}" : count.ToString(CultureInfo.InvariantCulture);
}
