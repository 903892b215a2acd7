using System.Collections.Concurrent;

namespace GenevaDrive.Dashboard;

/// <summary>
/// Why the last dashboard commands were refused. Hangfire answers a refused command with a bare 422, so the
/// workflow page the operator is sent back to reads the reason here (per workflow and command, for a few
/// minutes, in the process that served the command; elsewhere the page explains from the workflow's state).
/// </summary>
internal sealed class CommandRefusals
{
    private static readonly TimeSpan KeepFor = TimeSpan.FromMinutes(5);
    private const int MaxKept = 1000;

    private readonly ConcurrentDictionary<(long WorkflowId, string Command), (string Reason, DateTime At)> _reasons = new();

    public void Record(long workflowId, string command, string reason)
    {
        if (_reasons.Count >= MaxKept)
        {
            foreach (var stale in _reasons.Where(r => DateTime.UtcNow - r.Value.At > KeepFor).Select(r => r.Key).ToList())
            {
                _reasons.TryRemove(stale, out _);
            }

            if (_reasons.Count >= MaxKept)
            {
                _reasons.Clear();
            }
        }

        _reasons[(workflowId, command)] = (reason, DateTime.UtcNow);
    }

    public string? Find(long workflowId, string command) =>
        _reasons.TryGetValue((workflowId, command), out var entry) && DateTime.UtcNow - entry.At <= KeepFor ? entry.Reason : null;
}
