using GenevaDrive.Definition;
using GenevaDrive.Logging;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Registration;

/// <summary>
/// What start-up tells an operator in a few log lines: what runs (workflows, storage, schema, lease and heartbeat,
/// Hangfire's schedule poll), and each declared wait or backoff shorter than the schedule poll, which makes such a step
/// run up to a poll late (a 2 s backoff under the default 15 s poll runs 11 to 15 s late).
/// </summary>
internal static class StartupReport
{
    /// <summary>Hangfire's default <c>SchedulePollingInterval</c>.</summary>
    public static readonly TimeSpan DefaultSchedulePoll = TimeSpan.FromSeconds(15);

    public static void Log(GenevaDriveRuntime runtime, Hangfire.BackgroundJobServerOptions? server, ILogger logger)
    {
        var poll = server?.SchedulePollingInterval ?? DefaultSchedulePoll;
        var names = string.Join(", ", runtime.Registry.Types.Select(runtime.Registry.NameOf).Order(StringComparer.Ordinal));
        RuntimeLog.Running(logger, names.Length == 0 ? "none" : names, runtime.Dialect.Name, runtime.Dialect.SchemaVersion ?? 0,
            Durations.Describe(runtime.Options.LeaseTimeout), Durations.Describe(runtime.Options.HeartbeatInterval), Durations.Describe(poll),
            server is null
                ? " (assumed, Hangfire's default: AddHangfireServer(o => …) keeps its options to itself; register a BackgroundJobServerOptions " +
                  "in the container and call AddHangfireServer() to share them)"
                : "");
        foreach (var warning in ShortWaits(runtime.Registry, poll))
        {
            RuntimeLog.WaitShorterThanSchedulePoll(logger, warning);
        }
    }

    /// <summary>Each declared wait, reattempt wait and first backoff delay shorter than <paramref name="poll"/>, as a sentence.</summary>
    public static IReadOnlyList<string> ShortWaits(WorkflowRegistry registry, TimeSpan poll)
    {
        var found = new List<string>();
        foreach (var type in registry.Types)
        {
            if (registry.TryGetDefinition(type) is not { } definition)
            {
                continue;
            }

            var workflow = registry.NameOf(type);
            void Check(string what, TimeSpan? wait)
            {
                if (wait is { } value && value > TimeSpan.Zero && value < poll)
                {
                    found.Add($"Workflow '{workflow}': {what} {Durations.Describe(value)}, shorter than Hangfire's schedule poll ({Durations.Describe(poll)}): it runs up to " +
                              $"{Durations.Describe(poll)} late. If that matters, lower SchedulePollingInterval (AddHangfireServer(o => o.SchedulePollingInterval = " +
                              "TimeSpan.FromSeconds(1))).");
                }
            }

            foreach (var step in definition.Steps)
            {
                Check($"step '{step.Name}' waits", step.Wait);
                Check($"step '{step.Name}' reattempts after", step.ExceptionPolicy?.Wait);
                Check($"step '{step.Name}' first backs off by", step.ExceptionPolicy?.Backoff?.DelayFor(1));
            }

            foreach (var policy in definition.ExceptionPolicies.Select(p => p.Policy))
            {
                Check($"an exception policy ({policy}) reattempts after", policy.Wait);
                Check($"an exception policy ({policy}) first backs off by", policy.Backoff?.DelayFor(1));
            }
        }

        return found;
    }
}
