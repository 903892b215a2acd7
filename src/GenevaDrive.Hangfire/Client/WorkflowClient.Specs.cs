using System.Data.Common;
using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Heroes;
using GenevaDrive.Storage;
using Microsoft.Extensions.DependencyInjection;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Client;

// The start spec of a workflow from a type and a hero, and what follows a command that ended or paused a child or canceled a parent.
internal sealed partial class WorkflowClient
{
    /// <summary>Whether <paramref name="type"/> is a concrete class deriving from <see cref="Workflow{THero}"/>.</summary>
    private static bool IsWorkflowClass(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Workflow<>))
            {
                return !type.IsAbstract;
            }
        }

        return false;
    }

    private async Task<NewWorkflow> SpecAsync(Type workflowType, object hero, StartOptions? options)
    {
        ArgumentNullException.ThrowIfNull(workflowType);
        ArgumentNullException.ThrowIfNull(hero);
        await runtime.EnsureInitializedAsync(CancellationToken.None).ConfigureAwait(false);
        if (runtime.Registry.TryGetDefinition(workflowType) is null)
        {
            throw new ArgumentException(IsWorkflowClass(workflowType)
                    ? $"'{workflowType.FullName}' is not a registered workflow; register it with AddWorkflow<{workflowType.Name}>() (or AddWorkflow(typeof({workflowType.Name}))) before starting it."
                    : $"'{workflowType.FullName}' is not a workflow class: the type to start is your class deriving from Workflow<THero> (e.g. " +
                      "StartAsync(typeof(SignupWorkflow), user)), and the hero is the second argument.",
                nameof(workflowType));
        }

        var name = runtime.Registry.NameOf(workflowType);
        var definition = runtime.Registry.GetDefinition(workflowType);
        if (!definition.HeroType.IsInstanceOfType(hero))
        {
            throw new ArgumentException(
                $"Workflow '{name}' is about {definition.HeroType.Name} heroes, but was started with a {hero.GetType().Name}. Pass a {definition.HeroType.Name}.",
                nameof(hero));
        }

        string heroId;
        await using (var scope = runtime.Services.CreateAsyncScope())
        {
            heroId = HeroTypes.GetId(scope.ServiceProvider, definition.HeroType, hero);
        }

        return definition.StartOf(name, heroId, options?.AllowMultiple ?? false, Telemetry.CurrentTraceParent());
    }

    /// <summary>After a command committed: see <see cref="ChildCascade.AfterChangeAsync"/> (a crash here is finished by the maintenance job).</summary>
    private Task AfterChildOrParentChangedAsync(ControlResult result, CancellationToken cancellationToken) =>
        ChildCascade.AfterChangeAsync(Store, runtime.Dispatcher, runtime.Registry, result.Workflow, result.WokenParent, cancellationToken);
}
