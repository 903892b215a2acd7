using GenevaDrive.Server;
using Hangfire;
using Hangfire.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using GenevaDrive.Registration;

namespace GenevaDrive;

/// <summary>Registers GenevaDrive.Hangfire in a dependency injection container.</summary>
public static class GenevaDriveServiceCollectionExtensions
{
    /// <summary>
    /// Adds GenevaDrive to this container: the options, the <see cref="IWorkflowClient"/>, the hero loaders, a
    /// start-up step that validates every registered workflow and prepares the schema, and GenevaDrive's job
    /// filter in the container's Hangfire <see cref="IJobFilterProvider"/> — the one Hangfire.NetCore's clients
    /// and <c>AddHangfireServer</c> use — so nothing is added to Hangfire's process-wide filters and several
    /// hosts in one process each run their own workflows. Pair it with
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

        // Decorate whatever filter provider the container has (Hangfire's global providers when AddHangfire
        // registers its default, before or after this call).
        var existing = services.LastOrDefault(d => d.ServiceType == typeof(IJobFilterProvider));
        if (existing is not null)
        {
            services.Remove(existing);
        }

        services.AddSingleton<IJobFilterProvider>(sp => new GenevaDriveFilterProvider(
            existing is null ? JobFilterProviders.Providers : Resolve(existing, sp),
            sp.GetRequiredService<GenevaDriveRuntime>().CreateFilter()));
        return services;
    }

    private static IJobFilterProvider Resolve(ServiceDescriptor descriptor, IServiceProvider services) =>
        (IJobFilterProvider)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));

    private sealed class GenevaDriveStartup(GenevaDriveRuntime runtime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => runtime.EnsureInitializedAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>Installs GenevaDrive into Hangfire's configuration.</summary>
public static class GenevaDriveGlobalConfigurationExtensions
{
    /// <summary>
    /// Connects the GenevaDrive registered by <see cref="GenevaDriveServiceCollectionExtensions.AddGenevaDrive"/>
    /// to this container's Hangfire: the Workflows dashboard pages serve it for the container's
    /// <see cref="JobStorage"/>. The job filter itself comes with <c>AddGenevaDrive</c> (through the container's
    /// filter provider), so any number of hosts in one process may call this, each with its own storage.
    /// </summary>
    /// <param name="configuration">Hangfire's configuration.</param>
    /// <param name="services">The application's service provider.</param>
    /// <returns>The configuration, for chaining.</returns>
    /// <exception cref="InvalidOperationException">AddGenevaDrive was not called on this container.</exception>
    public static IGlobalConfiguration UseGenevaDrive(this IGlobalConfiguration configuration, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(services);
        if (services.GetService<GenevaDriveRuntime>() is null)
        {
            throw new InvalidOperationException(
                "UseGenevaDrive(serviceProvider) needs services.AddGenevaDrive(options => …) first, or use UseGenevaDrive(options => …) without a container.");
        }

        // The runtime tells the dashboard its storage when it starts (resolving the storage here, inside
        // Hangfire's own configuration callback, would recurse).
        GenevaDrive.Dashboard.GenevaDriveDashboard.Install(configuration);
        return configuration;
    }

    /// <summary>
    /// Installs GenevaDrive without a DI container — the single-instance convenience for applications without
    /// one: the job filter goes into Hangfire's process-wide filters, the client is the static
    /// <see cref="Workflows.Client"/>, and it may be called once per process. Workflows are constructed with their
    /// public constructors (or from services you register in <paramref name="configureServices"/>). Registered
    /// workflows are validated and the schema prepared now. Configure Hangfire's storage before calling it.
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
        InstallGlobalFilter(runtime);
        GenevaDrive.Dashboard.GenevaDriveDashboard.Install(configuration);
        runtime.EnsureInitialized();
        Workflows.Runtime = runtime;
        return configuration;
    }

    private static void InstallGlobalFilter(GenevaDriveRuntime runtime)
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
    }
}

/// <summary>
/// The workflow client of the configuration installed by <c>UseGenevaDrive(options => …)</c> — the documented
/// single-instance convenience for applications without a DI container. With a container, inject
/// <see cref="IWorkflowClient"/> instead.
/// </summary>
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
