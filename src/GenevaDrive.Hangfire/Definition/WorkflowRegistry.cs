using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Definition;

/// <summary>
/// The registered workflow types by stable name, and their validated definitions. Every registered
/// workflow is built and validated once at start-up (<see cref="ValidateAll"/>), so a broken definition
/// stops the application instead of failing at the first step run weeks later. The cached definition is
/// the reference shape: each run's freshly built definition must match it (<see cref="BindTo"/>).
/// </summary>
internal sealed class WorkflowRegistry
{
    private readonly Dictionary<string, Type> _typesByName = new(StringComparer.Ordinal);
    private readonly Dictionary<Type, string> _namesByType = [];
    private readonly Dictionary<Type, WorkflowDefinition> _definitions = [];
    private readonly object _gate = new();

    public IReadOnlyCollection<Type> Types
    {
        get
        {
            lock (_gate)
            {
                return _namesByType.Keys.ToArray();
            }
        }
    }

    /// <summary>Registers <paramref name="workflowType"/>; registering the same type twice is harmless.</summary>
    /// <exception cref="StepConfigurationException">The type is not a usable workflow, or its name is taken.</exception>
    public void Register(Type workflowType)
    {
        ArgumentNullException.ThrowIfNull(workflowType);
        if (!IsWorkflowType(workflowType))
        {
            throw new StepConfigurationException(
                $"Type '{workflowType.FullName}' cannot be registered as a workflow: it must be a non-abstract, non-generic class derived from Workflow<THero>.");
        }

        var name = WorkflowNames.For(workflowType);
        if (WorkflowNames.Problem(name) is { } problem)
        {
            throw new StepConfigurationException($"Workflow type '{workflowType.FullName}': {problem}.");
        }

        lock (_gate)
        {
            if (_typesByName.TryGetValue(name, out var existing))
            {
                if (existing == workflowType)
                {
                    return;
                }

                throw new StepConfigurationException(
                    $"Workflow '{name}' is registered twice: by {existing.FullName} and by {workflowType.FullName}. " +
                    "Workflow names are stored in the database and must be unique; give one of them a different [WorkflowName].");
            }

            _typesByName.Add(name, workflowType);
            _namesByType.Add(workflowType, name);
        }
    }

    public static bool IsWorkflowType(Type type) =>
        type is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false } &&
        typeof(Workflow).IsAssignableFrom(type);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, ObjectFactory> _factories = new();

    /// <summary>
    /// Constructs a workflow instance through DI, as <see cref="ActivatorUtilities.CreateInstance(IServiceProvider, Type, object[])"/>
    /// does, with the constructor chosen once per type instead of on every step.
    /// </summary>
    public Workflow Create(IServiceProvider services, Type workflowType) =>
        (Workflow)_factories.GetOrAdd(workflowType, static type => ActivatorUtilities.CreateFactory(type, Type.EmptyTypes))(services, null);

    /// <summary>The type registered under <paramref name="name"/>, or null.</summary>
    public Type? FindType(string name)
    {
        lock (_gate)
        {
            return _typesByName.GetValueOrDefault(name);
        }
    }

    /// <summary>The stable name of a registered type.</summary>
    public string NameOf(Type workflowType)
    {
        lock (_gate)
        {
            return _namesByType.TryGetValue(workflowType, out var name)
                ? name
                : throw new InvalidOperationException(
                    $"Workflow type '{workflowType.FullName}' is not registered. Register it with AddWorkflow<{workflowType.Name}>() or an assembly scan.");
        }
    }

    /// <summary>
    /// Builds and validates every registered workflow with instances from <paramref name="services"/>
    /// (constructor injection; a scope per workflow). Throws one <see cref="StepConfigurationException"/>
    /// listing every error of every workflow.
    /// </summary>
    public void ValidateAll(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var errors = new List<string>();
        foreach (var type in Types)
        {
            using var scope = services.CreateScope();
            try
            {
                var instance = (Workflow)ActivatorUtilities.CreateInstance(scope.ServiceProvider, type);
                var definition = BuildDefinition(instance);
                Heroes.HeroTypes.NameOf(definition.HeroType);

                lock (_gate)
                {
                    _definitions[type] = definition;
                }
            }
            catch (StepConfigurationException e)
            {
                errors.AddRange(e.Errors);
            }
            catch (Exception e) when (e is InvalidOperationException or MissingMethodException)
            {
                errors.Add($"Workflow '{NameOf(type)}' could not be constructed to validate its definition: {e.Message}");
            }
            catch (ArgumentException e)
            {
                errors.Add($"Workflow '{NameOf(type)}': {e.Message}");
            }
        }

        if (errors.Count > 0)
        {
            throw new StepConfigurationException(errors);
        }
    }

    /// <summary>
    /// Finds, at start-up, each validated workflow whose hero type has no loader (every step reloads its hero by id, so
    /// its steps would fail), each as a sentence with the registration to add.
    /// </summary>
    public IReadOnlyList<string> FindMissingHeroLoaders(IServiceProvider services)
    {
        using var scope = services.CreateScope();
        var errors = new List<string>();
        foreach (var type in Types)
        {
            if (TryGetDefinition(type) is { } definition && MissingHeroLoader(scope.ServiceProvider, definition.HeroType) is { } missing)
            {
                errors.Add($"Workflow '{NameOf(type)}' is about {definition.HeroType.Name} heroes, but no hero loader is registered for " +
                           $"{definition.HeroType.FullName}: its steps reload their hero by id and fail without one. Register one with options.AddHero<{definition.HeroType.Name}>(" +
                           $"hero => hero.Id.ToString(), (services, id, ct) => …) or services.AddScoped<{missing}, YourLoader>().");
            }
        }

        return errors;
    }

    /// <summary>
    /// The loader service a hero type lacks (its display name), or null when one is registered. Asked of the container
    /// without building the loader where it can say (<see cref="IServiceProviderIsService"/>), so validation constructs none
    /// of the application's services.
    /// </summary>
    private static string? MissingHeroLoader(IServiceProvider services, Type heroType)
    {
        var loader = typeof(IHeroLoader<>).MakeGenericType(heroType);
        var registered = services.GetService(typeof(IServiceProviderIsService)) is IServiceProviderIsService container
            ? container.IsService(loader)
            : services.GetService(loader) is not null;
        return registered ? null : $"IHeroLoader<{heroType.Name}>";
    }

    /// <summary>The validated definition of <paramref name="workflowType"/>, or null before validation.</summary>
    public WorkflowDefinition? TryGetDefinition(Type workflowType)
    {
        lock (_gate)
        {
            return _definitions.GetValueOrDefault(workflowType);
        }
    }

    /// <summary>The validated definition of <paramref name="workflowType"/> (for decisions and the dashboard).</summary>
    public WorkflowDefinition GetDefinition(Type workflowType)
    {
        lock (_gate)
        {
            return _definitions.TryGetValue(workflowType, out var definition)
                ? definition
                : throw new InvalidOperationException(
                    $"Workflow type '{workflowType.FullName}' has not been validated. Registered workflows are validated when the application starts; register it before start-up.");
        }
    }

    /// <summary>
    /// Builds the definition of a freshly constructed <paramref name="instance"/> (its delegates bound to
    /// that instance) and checks that its shape equals the validated one.
    /// </summary>
    public WorkflowDefinition BindTo(Workflow instance)
    {
        var reference = GetDefinition(instance.GetType());
        var bound = BuildDefinition(instance);
        if (!bound.HasSameShapeAs(reference))
        {
            throw new StepConfigurationException(
                $"Workflow '{reference.Name}': this instance's Define produced a different definition from the one validated at start-up " +
                $"(validated: {Summarize(reference)}; now: {Summarize(bound)}). The steps, their order, waits and options must not depend on instance state such as the hero; " +
                "use skipIf/onlyIf or flow control results for decisions that depend on data.");
        }

        bound.Steps.ShareIndexOf(reference.Steps);
        return bound;
    }

    private WorkflowDefinition BuildDefinition(Workflow instance)
    {
        var type = instance.GetType();
        var builder = new WorkflowBuilder(NameOf(type));
        try
        {
            instance.DefineSteps(builder);
        }
        catch (StepConfigurationException)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new StepConfigurationException(
                $"Workflow '{builder.WorkflowName}': Define threw {e.GetType().Name}: {e.Message} Define must only declare steps and options.");
        }

        return builder.Build(type, instance.HeroType);
    }

    private static string Summarize(WorkflowDefinition definition) =>
        definition.Steps.Count == 0 ? "no steps" : string.Join(" > ", definition.Steps.Names);
}
