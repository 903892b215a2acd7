using GenevaDrive.Definition;
using GenevaDrive.Heroes;
using GenevaDrive.Logging;
using GenevaDrive.Store;

namespace GenevaDrive.Execution;

/// <summary>
/// The engine's side of a <c>StartChildren</c> step's attempt: turns a batch of heroes into children of the parent's step (one
/// transaction), then dispatches each new child's first step. A child whose dispatch is lost (a crash right after the commit)
/// is found by the reconciler like any scheduled step without a job.
/// </summary>
internal sealed class ChildRuntime(WorkflowStore store, IStepJobDispatcher dispatcher, WorkflowRegistry registry, IServiceProvider services,
    long parentId, string group)
{
    public async Task StartAsync<THero>(Type childType, IReadOnlyList<THero> heroes, CancellationToken ct)
        where THero : class
    {
        var definition = registry.TryGetDefinition(childType) ?? throw new InvalidOperationException(
            $"StartChildren step '{group}' of workflow {parentId} starts '{childType.FullName}', which is not a registered workflow; register it with " +
            $"AddWorkflow<{childType.Name}>() where the parent is registered.");
        var name = registry.NameOf(childType);
        var trace = Telemetry.CurrentTraceParent();
        var specs = new List<NewWorkflow>(heroes.Count);
        foreach (var hero in heroes)
        {
            if (hero is null)
            {
                throw new ArgumentException($"StartChildren step '{group}' of workflow {parentId} was given a null hero; yield only existing heroes.", nameof(heroes));
            }

            specs.Add(definition.StartOf(name, HeroTypes.GetId(services, definition.HeroType, hero), allowMultiple: false, trace));
        }

        foreach (var created in await store.StartChildrenAsync(parentId, group, specs, ct).ConfigureAwait(false))
        {
            if (created.FirstExecution is { } execution)
            {
                await dispatcher.DispatchAsync(created.Workflow, execution, ct).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// Canceling a parent cancels its ongoing children (and theirs), each in a transaction of its own after the parent's cancel
/// committed, unless the step that started them said <c>cancelWithParent: false</c>. The maintenance job repeats it for any
/// child left ongoing under a canceled parent (a crash between the two).
/// </summary>
internal static class ChildCascade
{
    private const int Page = 1000;

    /// <summary>
    /// After a change to <paramref name="workflow"/> committed (a finalize or a command): the parent its end or pause woke
    /// runs its wait now, and a canceled workflow's ongoing children are canceled with it.
    /// </summary>
    public static async Task AfterChangeAsync(WorkflowStore store, IStepJobDispatcher dispatcher, WorkflowRegistry registry, WorkflowRecord workflow,
        WokenParent? woken, CancellationToken ct)
    {
        if (woken is not null)
        {
            await dispatcher.DispatchAsync(woken.Workflow, woken.Execution, ct).ConfigureAwait(false);
        }

        if (workflow.WorkflowState == WorkflowState.Canceled)
        {
            await CancelChildrenAsync(store, dispatcher, registry, workflow, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the ongoing children of <paramref name="parent"/> (a canceled workflow) and their descendants; returns how many.</summary>
    public static async Task<int> CancelChildrenAsync(WorkflowStore store, IStepJobDispatcher dispatcher, WorkflowRegistry registry, WorkflowRecord parent,
        CancellationToken ct)
    {
        var canceled = 0;
        var parents = new Queue<WorkflowRecord>([parent]);
        while (parents.TryDequeue(out var next))
        {
            var children = await store.GetOngoingChildrenAsync(next.Id, Page, ct).ConfigureAwait(false);
            foreach (var (id, group) in children)
            {
                if (await CancelOneAsync(store, dispatcher, registry, next.Id, next.Type, id, group, ct).ConfigureAwait(false) is { } child)
                {
                    canceled++;
                    parents.Enqueue(child);
                }
            }
        }

        return canceled;
    }

    /// <summary>Cancels one child of a canceled parent unless its step keeps children running; null when it did not (or it had ended).</summary>
    public static async Task<WorkflowRecord?> CancelOneAsync(WorkflowStore store, IStepJobDispatcher dispatcher, WorkflowRegistry registry, long parentId,
        string parentType, long childId, string group, CancellationToken ct)
    {
        var starter = registry.FindType(parentType) is { } type ? registry.TryGetDefinition(type)?.Steps.Find(group) : null;
        if (starter?.CancelChildrenWithParent == false)
        {
            return null;
        }

        try
        {
            var result = await store.CancelAsync(childId, ct, actor: $"the cancel of its parent, workflow {parentId}").ConfigureAwait(false);
            dispatcher.RemovePending(result.Ended?.JobId, $"workflow {childId} canceled with its parent {parentId}");
            return result.Workflow;
        }
        catch (InvalidWorkflowStateException)
        {
            // It ended meanwhile.
            return null;
        }
    }
}
