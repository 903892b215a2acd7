using System.Text.Json;
using System.Text.Json.Nodes;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>Why a step execution was reattempted, as stored in <c>Metadata.reattempt_reason</c>.</summary>
internal static class ReattemptReasons
{
    public const string FlowControl = "flow_control";
    public const string ExceptionPolicy = "exception_policy";
    public const string Precondition = "precondition";

    /// <summary>Reasons that count toward an exception policy's reattempt limit.</summary>
    public static bool CountsTowardLimit(string? reason) => reason is ExceptionPolicy or Precondition;
}

/// <summary>
/// The JSON kept in <c>StepExecutions.Metadata</c>: the reattempt reason and the exception that caused
/// it. Unknown properties written by other versions are kept; malformed JSON reads as empty.
/// </summary>
internal sealed class StepExecutionMetadata
{
    private readonly JsonObject _root;

    private StepExecutionMetadata(JsonObject root)
    {
        _root = root;
    }

    public static StepExecutionMetadata Empty => new(new JsonObject());

    public string? ReattemptReason
    {
        get => _root["reattempt_reason"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        set => _root["reattempt_reason"] = value;
    }

    public string? ExceptionClass => ExceptionField("class");

    public string? ExceptionMessage => ExceptionField("message");

    public string? ExceptionBacktrace => ExceptionField("backtrace");

    /// <summary>How many consecutive exception-caused reattempts had run when the limit stopped the step (null otherwise).</summary>
    public int? ReattemptsAtLimit
    {
        get => _root["reattempts_at_limit"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : null;
        set => _root["reattempts_at_limit"] = value;
    }

    /// <summary>For a reattempt planned by a backoff: the backoff and the wait it chose, in words.</summary>
    public string? Backoff
    {
        get => _root["backoff"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        set => _root["backoff"] = value;
    }

    /// <summary>For a gated execution: how long its gate waits, and what happens on timeout.</summary>
    public (TimeSpan Timeout, WaitTimeout OnTimeout)? Wait
    {
        get => _root["wait_timeout_ticks"] is JsonValue t && t.TryGetValue<long>(out var ticks) &&
               _root["wait_on_timeout"] is JsonValue a && a.TryGetValue<string>(out var action) && Enum.TryParse<WaitTimeout>(action, out var onTimeout)
            ? (TimeSpan.FromTicks(ticks), onTimeout)
            : null;
        set
        {
            _root["wait_timeout_ticks"] = value?.Timeout.Ticks;
            _root["wait_on_timeout"] = value?.OnTimeout.ToString();
        }
    }

    /// <summary>For an execution gated by <c>WaitForChildren</c>: the children it waits for (read by the child whose end may wake it).</summary>
    public ChildrenGate? Children
    {
        get => _root["children"] is JsonObject c && c["group"] is JsonValue g && g.TryGetValue<string>(out var group) &&
               c["on_canceled"] is JsonValue oc && oc.TryGetValue<string>(out var canceled) && Enum.TryParse<ChildTrouble>(canceled, out var onCanceled) &&
               c["on_paused"] is JsonValue op && op.TryGetValue<string>(out var paused) && Enum.TryParse<ChildTrouble>(paused, out var onPaused)
            ? new ChildrenGate(group, c["minimum"] is JsonValue m && m.TryGetValue<int>(out var minimum) ? ChildrenWait.AtLeast(minimum) : ChildrenWait.All,
                onCanceled, onPaused)
            : null;
        set => _root["children"] = value is null
            ? null
            : new JsonObject
            {
                ["group"] = value.Group, ["minimum"] = value.Until.Minimum, ["on_canceled"] = value.OnCanceled.ToString(),
                ["on_paused"] = value.OnPaused.ToString(),
            };
    }

    /// <summary>The event this execution's gate consumed (then a later attempt of the step does not wait again).</summary>
    public long? ConsumedEvent
    {
        get => _root["consumed_event"] is JsonValue v && v.TryGetValue<long>(out var id) ? id : null;
        set => _root["consumed_event"] = value;
    }

    /// <summary>
    /// For an execution released because the worker's build does not define its step: when the first release of the
    /// run of releases happened (the grace period counts from there).
    /// </summary>
    public DateTime? UndefinedSince
    {
        get => _root["undefined_since"] is JsonValue v && v.TryGetValue<DateTime>(out var at) ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null;
        set => _root["undefined_since"] = value;
    }

    /// <summary>Who did what, for a change an operator made (a skip, a jump, a bulk action).</summary>
    public string? Operator
    {
        get => _root["operator"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        set => _root["operator"] = value;
    }

    /// <summary>Adds the keys of <paramref name="json"/> over these (the result of a run over what its row already held).</summary>
    public StepExecutionMetadata Overlay(string? json)
    {
        if (Parse(json)._root is { } other)
        {
            foreach (var (key, value) in other.ToArray())
            {
                other.Remove(key);
                _root[key] = value;
            }
        }

        return this;
    }

    public bool IsEmpty => _root.Count == 0;

    public static StepExecutionMetadata Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return Empty;
        }

        try
        {
            return JsonNode.Parse(json) is JsonObject root ? new StepExecutionMetadata(root) : Empty;
        }
        catch (JsonException)
        {
            return Empty;
        }
    }

    public StepExecutionMetadata WithException(string className, string message, string? backtrace)
    {
        _root["exception"] = new JsonObject { ["class"] = className, ["message"] = message, ["backtrace"] = backtrace };
        return this;
    }

    public string? ToJson() => IsEmpty ? null : _root.ToJsonString();

    private string? ExceptionField(string name) =>
        _root["exception"] is JsonObject e && e[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
