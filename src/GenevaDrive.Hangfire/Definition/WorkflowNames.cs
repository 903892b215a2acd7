using System.Reflection;

namespace GenevaDrive.Definition;

/// <summary>Stable names of workflow types: <see cref="WorkflowNameAttribute"/> or the full type name.</summary>
internal static class WorkflowNames
{
    public const int MaxLength = 200;

    public static string For(Type workflowType)
    {
        ArgumentNullException.ThrowIfNull(workflowType);
        var attribute = workflowType.GetCustomAttribute<WorkflowNameAttribute>(inherit: false);
        return attribute?.Name ?? workflowType.FullName ?? workflowType.Name;
    }

    /// <summary>The short name used in job display names, e.g. <c>SignupWorkflow</c>.</summary>
    public static string DisplayNameFor(Type workflowType) =>
        workflowType.GetCustomAttribute<WorkflowNameAttribute>(inherit: false)?.Name ?? workflowType.Name;

    /// <summary>The rule the name breaks, or null when it is valid.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "the workflow name is empty; give [WorkflowName(\"...\")] a non-empty value";
        }

        if (name.Trim() != name)
        {
            return $"the workflow name '{name}' starts or ends with white space; remove it";
        }

        return name.Length > MaxLength
            ? $"the workflow name is {name.Length} characters long; the limit is {MaxLength}"
            : null;
    }
}
