using GenevaDrive.Health;
using GenevaDrive.Registration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GenevaDrive;

/// <summary>Registers GenevaDrive's health check with ASP.NET Core / Microsoft.Extensions health checks.</summary>
public static class GenevaDriveHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds the GenevaDrive health check: the storage is reachable and its schema current (else Unhealthy, or
    /// <paramref name="failureStatus"/>); no step overdue, no performing step whose worker is gone past the grace, the
    /// reconciler ran recently, and no definition drift (else Degraded). Thresholds: <see cref="GenevaDriveHealthCheckOptions"/>.
    /// Needs <c>services.AddGenevaDrive(…)</c>.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="configure">Changes the thresholds.</param>
    /// <param name="name">The check's name (default "genevadrive").</param>
    /// <param name="failureStatus">What an unreachable storage or an old schema reports (default Unhealthy).</param>
    /// <param name="tags">Tags for filtering, e.g. "ready".</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A threshold is not positive.</exception>
    public static IHealthChecksBuilder AddGenevaDrive(this IHealthChecksBuilder builder, Action<GenevaDriveHealthCheckOptions>? configure = null,
        string name = "genevadrive", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new GenevaDriveHealthCheckOptions();
        configure?.Invoke(options);
        options.Validate();
        return builder.Add(new HealthCheckRegistration(name,
            services => new GenevaDriveHealthCheck(services.GetService<GenevaDriveRuntime>() ?? throw new InvalidOperationException(
                "The GenevaDrive health check needs GenevaDrive registered in the same container: call services.AddGenevaDrive(…) as well."), options),
            failureStatus, tags));
    }
}
