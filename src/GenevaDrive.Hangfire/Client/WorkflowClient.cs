using System.Data.Common;
using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Heroes;
using GenevaDrive.Storage;
using Microsoft.Extensions.DependencyInjection;
using GenevaDrive.Registration;
using GenevaDrive.Store;

namespace GenevaDrive.Client;

/// <summary>The <see cref="IWorkflowClient"/> of one runtime: store operations plus Hangfire job bookkeeping.</summary>
internal sealed partial class WorkflowClient(GenevaDriveRuntime runtime) : IWorkflowClient
{
    private WorkflowStore Store => runtime.Store;

    public Task<WorkflowInfo> StartAsync<TWorkflow>(object hero, StartOptions? options = null, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow =>
        StartAsync(typeof(TWorkflow), hero, options, cancellationToken);

    public async Task<WorkflowInfo> StartAsync(Type workflowType, object hero, StartOptions? options = null, CancellationToken cancellationToken = default)
    {
        // The workflow keeps this span's context: its steps, hours later and elsewhere, are the span's children.
        using var activity = Telemetry.Source.StartActivity("GenevaDrive.Start");
        activity?.SetTag("genevadrive.workflow_type", workflowType?.Name);
        var spec = await SpecAsync(workflowType!, hero, options).ConfigureAwait(false);
        var created = await Store.CreateAsync(spec, cancellationToken).ConfigureAwait(false);
        if (created.FirstExecution is { } first)
        {
            await runtime.Dispatcher.DispatchAsync(created.Workflow, first, cancellationToken).ConfigureAwait(false);
        }

        return WorkflowInfo.From(created.Workflow, runtime.Registry);
    }

    public async Task<WorkflowInfo> StartAsync<TWorkflow>(object hero, DbConnection connection, DbTransaction? transaction,
        StartOptions? options = null, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow
    {
        var spec = await SpecAsync(typeof(TWorkflow), hero, options).ConfigureAwait(false);
        var created = await Store.CreateAsync(spec, connection, transaction, cancellationToken).ConfigureAwait(false);
        return WorkflowInfo.From(created.Workflow, runtime.Registry);
    }

    public Task<WorkflowInfo> StartOrGetExistingAsync<TWorkflow>(object hero, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow =>
        StartOrGetExistingAsync(typeof(TWorkflow), hero, cancellationToken);

    public WorkflowDescription Describe(Type workflowType)
    {
        ArgumentNullException.ThrowIfNull(workflowType);
        runtime.EnsureInitialized();
        return runtime.Registry.TryGetDefinition(workflowType) is { } definition
            ? WorkflowDescription.From(definition)
            : throw new ArgumentException(
                $"'{workflowType.FullName}' is not a registered workflow; register it with AddWorkflow<{workflowType.Name}>() before describing it.", nameof(workflowType));
    }

    public WorkflowDescription Describe(string workflowName)
    {
        ArgumentNullException.ThrowIfNull(workflowName);
        runtime.EnsureInitialized();
        return runtime.Registry.FindType(workflowName) is { } type
            ? Describe(type)
            : throw new ArgumentException(
                $"No registered workflow is named '{EchoedValue.Of(workflowName)}'; registered: {string.Join(", ", runtime.Registry.Types.Select(runtime.Registry.NameOf))}.",
                nameof(workflowName));
    }

    public async Task<WorkflowInfo> StartOrGetExistingAsync(Type workflowType, object hero, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await StartAsync(workflowType, hero, null, cancellationToken).ConfigureAwait(false);
            }
            catch (WorkflowAlreadyExistsException e) when (e.ExistingWorkflowId is not null && attempt < 3)
            {
                // The existing workflow may end between the conflict and this read; then start again.
                if (await GetAsync(e.ExistingWorkflowId.Value, cancellationToken).ConfigureAwait(false) is { } existing &&
                    existing.State is WorkflowState.Ready or WorkflowState.Performing or WorkflowState.Paused)
                {
                    return existing;
                }
            }
        }
    }

    public async Task<string?> DispatchAsync(long workflowId, CancellationToken cancellationToken = default)
    {
        var workflow = await Store.GetWorkflowAsync(workflowId, cancellationToken).ConfigureAwait(false)
            ?? throw new WorkflowNotFoundException(workflowId);
        var current = await Store.GetCurrentExecutionAsync(workflowId, cancellationToken).ConfigureAwait(false);
        if (current is not { State: "scheduled" } || workflow.WorkflowState != WorkflowState.Ready)
        {
            return null;
        }

        if (current.JobId is not { } jobId)
        {
            return await runtime.Dispatcher.DispatchAsync(workflow, current, cancellationToken).ConfigureAwait(false);
        }

        if (current.ScheduledFor > runtime.Options.TimeProvider.GetUtcNow().UtcDateTime)
        {
            return null;
        }

        if (runtime.Dispatcher.MoveToQueue(workflow, jobId))
        {
            return jobId;
        }

        // Its job is gone (a pause deleted it before a resume in the caller's transaction) or ended: a new one runs
        // it. If the old job is still alive after all, the claim lets only one of them run the step.
        return runtime.Dispatcher.GetJobStatus(jobId) is { State: "Enqueued" or "Processing" or "Awaiting" }
            ? null
            : await runtime.Dispatcher.DispatchAsync(workflow, current, cancellationToken).ConfigureAwait(false);
    }

    public async Task<EventDelivery> SendEventAsync(long workflowId, string eventName, object? payload = null, string? eventId = null,
        CancellationToken cancellationToken = default)
    {
        var (key, json, trace) = EventArguments(eventName, payload, eventId);
        var delivery = await Store.DeliverEventAsync(workflowId, eventName, key, json, trace, cancellationToken).ConfigureAwait(false);
        if (delivery is { Outcome: EventDeliveryOutcome.Delivered or EventDeliveryOutcome.Duplicate, WokenExecution: { } woken, Workflow: { } workflow })
        {
            // After the commit: the step's job, scheduled for the timeout, goes to its queue now.
            if (woken.JobId is null || !runtime.Dispatcher.MoveToQueue(workflow, woken.JobId))
            {
                if (woken.JobId is null)
                {
                    await runtime.Dispatcher.DispatchAsync(workflow, woken, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        return new EventDelivery { WorkflowId = workflowId, EventName = eventName, EventId = key, Outcome = delivery.Outcome };
    }

    public async Task<IReadOnlyList<EventDelivery>> SendEventAsync<TWorkflow>(object hero, string eventName, object? payload = null,
        string? eventId = null, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow
    {
        var spec = await SpecAsync(typeof(TWorkflow), hero, null).ConfigureAwait(false);
        EventArguments(eventName, payload, eventId);
        var results = new List<EventDelivery>();
        foreach (var workflow in await Store.GetByHeroAsync(spec.HeroType, spec.HeroId, cancellationToken).ConfigureAwait(false))
        {
            if (workflow.Type == spec.Type && workflow.WorkflowState is WorkflowState.Ready or WorkflowState.Performing or WorkflowState.Paused)
            {
                results.Add(await SendEventAsync(workflow.Id, eventName, payload, eventId, cancellationToken).ConfigureAwait(false));
            }
        }

        return results;
    }

    public async Task<EventDelivery> SendEventAsync(long workflowId, string eventName, object? payload, string? eventId, DbConnection connection,
        DbTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
        var (key, json, trace) = EventArguments(eventName, payload, eventId);
        // The store's own-transaction commands write this process's pending job ids first; in the caller's transaction, here.
        await Store.JobIds.FlushAsync().ConfigureAwait(false);
        var delivery = await Store.DeliverEventAsync(connection, transaction, workflowId, eventName, key, json, trace, cancellationToken)
            .ConfigureAwait(false);
        return new EventDelivery { WorkflowId = workflowId, EventName = eventName, EventId = key, Outcome = delivery.Outcome };
    }

    public Task<int> MigrateHeroTypeNameAsync<THero>(string formerName, CancellationToken cancellationToken = default)
        where THero : class
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(formerName);
        var name = HeroTypes.NameOf(typeof(THero));
        return formerName == name ? Task.FromResult(0) : Store.RenameHeroTypeAsync(formerName, name, cancellationToken);
    }

    public async Task<IReadOnlyList<WorkflowEventInfo>> GetEventsAsync(long workflowId, CancellationToken cancellationToken = default) =>
        (await Store.GetEventsAsync(workflowId, cancellationToken).ConfigureAwait(false)).Select(WorkflowEventInfo.From).ToList();

    /// <summary>Checks an event's name and id, serializes its payload, and captures the sender's trace context.</summary>
    private static (string Key, string? Json, string? TraceParent) EventArguments(string eventName, object? payload, string? eventId)
    {
        if (WorkflowBuilder.EventNameProblem(eventName) is { } problem)
        {
            throw new ArgumentException($"SendEventAsync: {problem}.", nameof(eventName));
        }

        if (eventId is not null && WorkflowBuilder.EventNameProblem(eventId) is not null)
        {
            throw new ArgumentException(
                $"SendEventAsync: the event id '{EchoedValue.Of(eventId)}' must be 1-{WorkflowBuilder.MaxEventNameLength} characters without control characters or surrounding white space, " +
                "e.g. the webhook's delivery id; or pass null for a generated one.", nameof(eventId));
        }

        var json = payload is null ? null : System.Text.Json.JsonSerializer.Serialize(payload, payload.GetType());
        return (eventId ?? Guid.NewGuid().ToString("N"), json, Telemetry.CurrentTraceParent());
    }

    public async Task<WorkflowInfo> ControlAsync(long workflowId, WorkflowCommand command, DbConnection connection, DbTransaction transaction,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
        var caller = new WorkflowStore.CallerTransaction(connection, transaction);
        var result = command switch
        {
            WorkflowCommand.Pause => await Store.PauseAsync(workflowId, cancellationToken, caller: caller).ConfigureAwait(false),
            WorkflowCommand.Resume => await Store.ResumeAsync(workflowId, cancellationToken, caller).ConfigureAwait(false),
            WorkflowCommand.Cancel => await Store.CancelAsync(workflowId, cancellationToken, caller).ConfigureAwait(false),
            WorkflowCommand.Skip => await SkipInAsync(workflowId, caller, cancellationToken).ConfigureAwait(false),
            _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Use WorkflowCommand.Pause, Resume, Cancel or Skip."),
        };
        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    /// <summary>
    /// Skips in the workflow's own lock (in the caller's transaction when given): the step after the current one is
    /// decided from the locked row, through the declared evolution, and a name this build cannot place is refused.
    /// </summary>
    private async Task<ControlResult> SkipInAsync(long workflowId, WorkflowStore.CallerTransaction? caller, CancellationToken cancellationToken,
        string? actor = null)
    {
        await runtime.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
        return await Store.SkipAsync(workflowId,
            (workflow, step) => DefinitionOf(workflow.Type).NextAfterStored(step, workflow.Id, "skip the current step of")?.Schedule(),
            cancellationToken, caller, actor).ConfigureAwait(false);
    }

    public Task<WorkflowInfo> JumpToAsync(long workflowId, string stepName, CancellationToken cancellationToken = default) =>
        JumpToAsync(workflowId, stepName, null, cancellationToken);

    /// <summary>Jumps a workflow to a defined step, recording who (<paramref name="actor"/>; null for code).</summary>
    internal async Task<WorkflowInfo> JumpToAsync(long workflowId, string stepName, string? actor, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(stepName))
        {
            throw new ArgumentException($"JumpToAsync needs the name of a step of workflow {workflowId}; '{stepName}' is empty.", nameof(stepName));
        }

        await runtime.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
        var result = await Store.SkipAsync(workflowId, (workflow, _) =>
        {
            var definition = DefinitionOf(workflow.Type);
            var target = definition.Resolve(stepName);
            if (target.Kind is not (StepNameKind.Defined or StepNameKind.Renamed))
            {
                throw new StepNotDefinedException(definition.Name, stepName, definition.Steps.Names);
            }

            var step = target.Step!;
            return step.WaitEvent is null ? new NextStep(step.Name, TimeSpan.Zero) : step.Schedule();
        }, cancellationToken, null, actor, jump: true).ConfigureAwait(false);
        await AfterSkipAsync(workflowId, result, "jumped", cancellationToken).ConfigureAwait(false);
        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    public async Task<DefinitionDrift> GetDefinitionDriftAsync(CancellationToken cancellationToken = default)
    {
        await runtime.EnsureInitializedAsync(cancellationToken).ConfigureAwait(false);
        return await runtime.Drift.CheckAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task AfterSkipAsync(long workflowId, ControlResult result, string what, CancellationToken cancellationToken)
    {
        runtime.Dispatcher.RemovePending(result.Ended?.JobId, $"workflow {workflowId} {what}");
        if (result.Execution is { } execution)
        {
            await runtime.Dispatcher.DispatchAsync(result.Workflow, execution, cancellationToken).ConfigureAwait(false);
        }

        await AfterChildOrParentChangedAsync(result, cancellationToken).ConfigureAwait(false);
    }


    public Task<WorkflowInfo> PauseAsync(long workflowId, CancellationToken cancellationToken = default) => PauseAsync(workflowId, null, cancellationToken);

    /// <summary>Pauses, recording who (<paramref name="actor"/>; null for code).</summary>
    internal async Task<WorkflowInfo> PauseAsync(long workflowId, string? actor, CancellationToken cancellationToken)
    {
        var result = await Store.PauseAsync(workflowId, cancellationToken, actor: actor).ConfigureAwait(false);
        if (result.Execution is { State: "scheduled" } pending)
        {
            // A running step's job is left alone: its heartbeat stops it.
            runtime.Dispatcher.RemovePending(pending.JobId, $"workflow {workflowId} paused");
        }

        await AfterChildOrParentChangedAsync(result, cancellationToken).ConfigureAwait(false);
        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    public Task<WorkflowInfo> ResumeAsync(long workflowId, CancellationToken cancellationToken = default) => ResumeAsync(workflowId, null, cancellationToken);

    /// <summary>Resumes, recording who (<paramref name="actor"/>; null for code).</summary>
    internal async Task<WorkflowInfo> ResumeAsync(long workflowId, string? actor, CancellationToken cancellationToken)
    {
        var result = await Store.ResumeAsync(workflowId, cancellationToken, actor: actor).ConfigureAwait(false);
        if (result.Execution is { } execution)
        {
            await runtime.Dispatcher.DispatchAsync(result.Workflow, execution, cancellationToken).ConfigureAwait(false);
        }

        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    public Task<WorkflowInfo> CancelAsync(long workflowId, CancellationToken cancellationToken = default) => CancelAsync(workflowId, null, cancellationToken);

    /// <summary>Cancels, recording who (<paramref name="actor"/>; null for code).</summary>
    internal async Task<WorkflowInfo> CancelAsync(long workflowId, string? actor, CancellationToken cancellationToken)
    {
        var result = await Store.CancelAsync(workflowId, cancellationToken, actor: actor).ConfigureAwait(false);
        runtime.Dispatcher.RemovePending(result.Ended?.JobId, $"workflow {workflowId} canceled");
        await AfterChildOrParentChangedAsync(result, cancellationToken).ConfigureAwait(false);
        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    public Task<WorkflowInfo> SkipAsync(long workflowId, CancellationToken cancellationToken = default) => SkipAsync(workflowId, null, cancellationToken);

    /// <summary>Skips the current step, recording who (<paramref name="actor"/>; null for code).</summary>
    internal async Task<WorkflowInfo> SkipAsync(long workflowId, string? actor, CancellationToken cancellationToken)
    {
        var result = await SkipInAsync(workflowId, null, cancellationToken, actor).ConfigureAwait(false);
        await AfterSkipAsync(workflowId, result, "skipped a step", cancellationToken).ConfigureAwait(false);
        return WorkflowInfo.From(result.Workflow, runtime.Registry);
    }

    public async Task<WorkflowInfo?> GetAsync(long workflowId, CancellationToken cancellationToken = default) =>
        await Store.GetWorkflowAsync(workflowId, cancellationToken).ConfigureAwait(false) is { } record ? WorkflowInfo.From(record, runtime.Registry) : null;

    public async Task<IReadOnlyList<WorkflowInfo>> GetChildrenAsync(long parentWorkflowId, int limit = 100, CancellationToken cancellationToken = default) =>
        (await Store.GetChildrenPageAsync(parentWorkflowId, 0, limit, cancellationToken).ConfigureAwait(false)).Select(r => WorkflowInfo.From(r, runtime.Registry)).ToList();

    public async Task<IReadOnlyList<WorkflowInfo>> GetByStateAsync(WorkflowState state, int limit = 100, CancellationToken cancellationToken = default) =>
        (await Store.GetPageAsync(state, null, 0, limit, cancellationToken).ConfigureAwait(false)).Items.Select(r => WorkflowInfo.From(r, runtime.Registry)).ToList();

    public async Task<IReadOnlyList<WorkflowInfo>> GetOngoingAsync(int limit = 100, CancellationToken cancellationToken = default)
    {
        var all = new List<WorkflowInfo>();
        foreach (var state in new[] { WorkflowState.Ready, WorkflowState.Performing, WorkflowState.Paused })
        {
            all.AddRange(await GetByStateAsync(state, limit, cancellationToken).ConfigureAwait(false));
        }

        return all.OrderByDescending(w => w.Id).ToList();
    }

    public async Task<IReadOnlyList<WorkflowInfo>> GetByHeroAsync<THero>(THero hero, CancellationToken cancellationToken = default)
        where THero : class
    {
        ArgumentNullException.ThrowIfNull(hero);
        string id;
        await using (var scope = runtime.Services.CreateAsyncScope())
        {
            id = HeroTypes.GetId(scope.ServiceProvider, hero);
        }

        return (await Store.GetByHeroAsync(HeroTypes.NameOf(typeof(THero)), id, cancellationToken).ConfigureAwait(false))
            .Select(r => WorkflowInfo.From(r, runtime.Registry)).ToList();
    }

    public async Task<IReadOnlyList<StepExecutionInfo>> GetHistoryAsync(long workflowId, CancellationToken cancellationToken = default) =>
        (await Store.GetHistoryAsync(workflowId, cancellationToken).ConfigureAwait(false)).Select(StepExecutionInfo.From).ToList();

    public async Task<StepExecutionInfo?> GetCurrentExecutionAsync(long workflowId, CancellationToken cancellationToken = default) =>
        await Store.GetCurrentExecutionAsync(workflowId, cancellationToken).ConfigureAwait(false) is { } record
            ? StepExecutionInfo.From(record)
            : null;

    private WorkflowDefinition DefinitionOf(string workflowName)
    {
        runtime.EnsureInitialized();
        var type = runtime.Registry.FindType(workflowName) ?? throw new InvalidOperationException(
            $"Workflow type '{workflowName}' is not registered in this application; register it to control its workflows.");
        return runtime.Registry.GetDefinition(type);
    }
}
