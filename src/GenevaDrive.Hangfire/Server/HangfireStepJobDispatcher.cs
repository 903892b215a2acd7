using GenevaDrive.Definition;
using GenevaDrive.Execution;
using GenevaDrive.Logging;
using GenevaDrive.Storage;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.Logging;
using GenevaDrive.Store;

namespace GenevaDrive.Server;

/// <summary>Creates and removes step jobs through a Hangfire <see cref="IBackgroundJobClient"/>.</summary>
internal sealed class HangfireStepJobDispatcher : IStepJobDispatcher
{
    /// <summary>The prefix of the reason of every deletion GenevaDrive makes itself.</summary>
    public const string DeletionReasonPrefix = "GenevaDrive: ";

    private static readonly System.Reflection.MethodInfo RunMethod = typeof(WorkflowStepJob).GetMethod(nameof(WorkflowStepJob.RunStepAsync))!;

    private readonly Func<IBackgroundJobClient> _client;
    private readonly Func<JobStorage> _storage;
    private readonly WorkflowRegistry _registry;
    private readonly WorkflowStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public HangfireStepJobDispatcher(Func<IBackgroundJobClient> client, Func<JobStorage> storage, WorkflowRegistry registry, WorkflowStore store,
        TimeProvider time, ILogger logger)
    {
        _client = client;
        _storage = storage;
        _registry = registry;
        _store = store;
        _time = time;
        _logger = logger;
    }

    public async Task<string?> DispatchAsync(WorkflowRecord workflow, StepExecutionRecord execution, CancellationToken ct = default)
    {
        try
        {
            var type = _registry.FindType(workflow.Type);
            var queue = type is null ? "default" : _registry.GetDefinition(type).Queue;
            var displayName = type is null ? workflow.Type : WorkflowNames.DisplayNameFor(type);
            object?[] args = [execution.Id, StepJobLabel.Format(displayName, workflow.Id, execution.StepName), null, CancellationToken.None];
            // Job.Queue needs storage support; the default queue works everywhere without it.
            var job = queue == "default" ? new Job(typeof(WorkflowStepJob), RunMethod, args) : new Job(typeof(WorkflowStepJob), RunMethod, args, queue);
            IState state = execution.ScheduledFor > _time.GetUtcNow().UtcDateTime
                ? new ScheduledState(WholeSecondAtOrAfter(execution.ScheduledFor))
                : new EnqueuedState(queue);
            var jobId = _client().Create(job, state);
            // Written in a batch with other new jobs' ids, off this path, except on a single-writer database (the claim also
            // writes it; see JobIdRecorder).
            await _store.JobIds.RecordAsync(execution.Id, jobId, ct).ConfigureAwait(false);
            return jobId;
        }
        catch (Exception e)
        {
            // Nothing is lost: the execution stays scheduled and the reconciler re-creates its job.
            DispatcherLog.DispatchFailed(_logger, e, execution.Id, execution.StepName, workflow.Id, e.Message);
            return null;
        }
    }

    /// <summary>Hangfire keeps schedule times in whole seconds, truncating; rounding up keeps a step from running early.</summary>
    internal static DateTime WholeSecondAtOrAfter(DateTime utc)
    {
        var remainder = utc.Ticks % TimeSpan.TicksPerSecond;
        return remainder == 0 ? utc : new DateTime(utc.Ticks - remainder + TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }

    /// <summary>A Hangfire server whose last heartbeat is older than this is treated as gone (its default heartbeat is 30 s).</summary>
    internal static readonly TimeSpan ServerSilenceLimit = TimeSpan.FromMinutes(2);

    public StepJobStatus? GetJobStatus(string jobId)
    {
        using var connection = _storage().GetConnection();
        if (connection.GetJobData(jobId) is null || connection.GetStateData(jobId) is not { } state)
        {
            return null;
        }

        if (state.Name != ProcessingState.StateName)
        {
            return new StepJobStatus(state.Name);
        }

        var serverId = state.Data is not null && state.Data.TryGetValue("ServerId", out var id) ? id : null;
        return new StepJobStatus(state.Name, serverId is null || !IsServerAlive(serverId));
    }

    // A reference, swapped whole: reconcile runs on several servers may read it at once.
    private sealed record ServerList(DateTime Read, Dictionary<string, DateTime?> Heartbeats);

    private ServerList? _servers;

    private bool IsServerAlive(string serverId)
    {
        // One reconcile run asks about many jobs: the server list is read once every few seconds, not per job.
        var cached = _servers;
        if (cached is null || DateTime.UtcNow - cached.Read > TimeSpan.FromSeconds(5))
        {
            cached = new ServerList(DateTime.UtcNow,
                _storage().GetMonitoringApi().Servers().ToDictionary(s => s.Name, s => s.Heartbeat, StringComparer.Ordinal));
            _servers = cached;
        }

        // Hangfire stamps server heartbeats with the machine clock, not ours.
        return cached.Heartbeats.TryGetValue(serverId, out var beat) && beat is { } last &&
               DateTime.UtcNow - DateTime.SpecifyKind(last, DateTimeKind.Utc) < ServerSilenceLimit;
    }

    public bool MoveToQueue(WorkflowRecord workflow, string jobId)
    {
        var type = _registry.FindType(workflow.Type);
        var queue = type is null ? "default" : _registry.GetDefinition(type).Queue;
        return _client().ChangeState(jobId, new EnqueuedState(queue) { Reason = "GenevaDrive: the step was due and Hangfire's schedule poller had not moved it" },
            ScheduledState.StateName);
    }

    public void RemovePending(string? jobId, string reason)
    {
        if (jobId is null)
        {
            return;
        }

        try
        {
            _client().ChangeState(jobId, new DeletedState { Reason = DeletionReasonPrefix + reason }, null);
        }
        catch (Exception e)
        {
            // A job left behind finds its execution ended when it runs and does nothing.
            DispatcherLog.RemoveFailed(_logger, e, jobId);
        }
    }
}
