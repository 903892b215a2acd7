using GenevaDrive.Hangfire;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace GenevaDrive;

/// <summary>Registers GenevaDrive.Hangfire in a dependency injection container.</summary>
public static class GenevaDriveServiceCollectionExtensions
{
    /// <summary>
    /// Adds GenevaDrive: the options, the <see cref="IWorkflowClient"/>, the hero loaders, and a start-up step
    /// that validates every registered workflow and prepares the schema. Pair it with
    /// <c>services.AddHangfire((sp, config) => config.Use…Storage(…).UseGenevaDrive(sp))</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Chooses the storage, registers workflows and heroes, and sets timings.</param>
    /// <returns>The service collection.</returns>
    /// <exception cref="ArgumentException">The options are invalid (one message lists every problem).</exception>
    /// <exception cref="InvalidOperationException">AddGenevaDrive was already called on this collection.</exception>
    public static IServiceCollection AddGenevaDrive(this IServiceCollection services, Action<GenevaDriveOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        if (services.Any(d => d.ServiceType == typeof(GenevaDriveRuntime)))
        {
            throw new InvalidOperationException("AddGenevaDrive was already called on this service collection; configure everything in one call.");
        }

        var options = new GenevaDriveOptions();
        configure(options);
        options.Validate();
        foreach (var registration in options.HeroRegistrations)
        {
            registration(services);
        }

        services.AddSingleton(options);
        services.AddSingleton(sp => new GenevaDriveRuntime(options, sp));
        services.AddSingleton(sp => sp.GetRequiredService<GenevaDriveRuntime>().Client);
        services.AddHostedService<GenevaDriveStartup>();
        return services;
    }

    private sealed class GenevaDriveStartup(GenevaDriveRuntime runtime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            runtime.EnsureInitialized();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>Installs GenevaDrive into Hangfire's configuration.</summary>
public static class GenevaDriveGlobalConfigurationExtensions
{
    /// <summary>
    /// Installs GenevaDrive's job filter, using the configuration registered by
    /// <see cref="GenevaDriveServiceCollectionExtensions.AddGenevaDrive"/>. Call once per process.
    /// </summary>
    /// <param name="configuration">Hangfire's configuration.</param>
    /// <param name="services">The application's service provider.</param>
    /// <returns>The configuration, for chaining.</returns>
    /// <exception cref="InvalidOperationException">AddGenevaDrive was not called, or UseGenevaDrive already was.</exception>
    public static IGlobalConfiguration UseGenevaDrive(this IGlobalConfiguration configuration, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(services);
        var runtime = services.GetService<GenevaDriveRuntime>() ?? throw new InvalidOperationException(
            "UseGenevaDrive(serviceProvider) needs services.AddGenevaDrive(options => …) first, or use UseGenevaDrive(options => …) without a container.");
        return Install(configuration, runtime);
    }

    /// <summary>
    /// Installs GenevaDrive without a DI container: workflows are constructed with their public constructors
    /// (or from services you register in <paramref name="configureServices"/>), and the client is
    /// <see cref="Workflows.Client"/>. Registered workflows are validated and the schema prepared now.
    /// </summary>
    /// <param name="configuration">Hangfire's configuration.</param>
    /// <param name="configure">Chooses the storage, registers workflows and heroes, and sets timings.</param>
    /// <param name="configureServices">Optionally registers services the workflows and hero loaders need.</param>
    /// <returns>The configuration, for chaining.</returns>
    public static IGlobalConfiguration UseGenevaDrive(this IGlobalConfiguration configuration, Action<GenevaDriveOptions> configure,
        Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new GenevaDriveOptions();
        configure(options);
        options.Validate();
        var services = new ServiceCollection();
        foreach (var registration in options.HeroRegistrations)
        {
            registration(services);
        }

        configureServices?.Invoke(services);
        var runtime = new GenevaDriveRuntime(options, services.BuildServiceProvider());
        Install(configuration, runtime);
        runtime.EnsureInitialized();
        Workflows.Runtime = runtime;
        return configuration;
    }

    private static IGlobalConfiguration Install(IGlobalConfiguration configuration, GenevaDriveRuntime runtime)
    {
        lock (GlobalJobFilters.Filters)
        {
            if (GlobalJobFilters.Filters.Any(f => f.Instance is WorkflowStepFilter))
            {
                throw new InvalidOperationException(
                    "UseGenevaDrive was already called in this process: GenevaDrive's job filter is installed once. Remove the second call.");
            }

            GlobalJobFilters.Filters.Add(runtime.CreateFilter());
        }

        GenevaDrive.Hangfire.Dashboard.GenevaDriveDashboard.Install(configuration, runtime);
        return configuration;
    }
}

/// <summary>The workflow client of the configuration installed by <c>UseGenevaDrive(options => …)</c> (no DI container).</summary>
public static class Workflows
{
    private static GenevaDriveRuntime? s_runtime;

    internal static GenevaDriveRuntime? Runtime
    {
        get => s_runtime;
        set => s_runtime = value;
    }

    /// <summary>The client.</summary>
    /// <exception cref="InvalidOperationException">UseGenevaDrive(options => …) has not been called.</exception>
    public static IWorkflowClient Client => s_runtime?.Client ?? throw new InvalidOperationException(
        "Workflows.Client is available after GlobalConfiguration.Configuration.UseGenevaDrive(options => …). With a DI container, inject IWorkflowClient instead.");
}
