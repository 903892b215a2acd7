using System.Text.RegularExpressions;
using Hangfire.Common;

namespace GenevaDrive.Server;

/// <summary>
/// What a step job's arguments say about its step, in both forms: <see cref="WorkflowStepJob.RunStepAsync"/> (the id and the
/// label "workflow #id › step") and the earlier <see cref="WorkflowStepJob.RunAsync"/> (the id, workflow name, workflow id
/// and step name).
/// </summary>
internal static partial class StepJobLabel
{
    public static string Format(string workflowName, long workflowId, string stepName) => $"{workflowName} #{workflowId} › {stepName}";

    /// <summary>
    /// The workflow name, id and step name a step job names, or null when its arguments do not say (a hand-made job, or a
    /// workflow name that itself looks like a label: the workflow id is then only a hint, checked by the claim).
    /// </summary>
    public static (string Workflow, long WorkflowId, string Step)? Read(Job job)
    {
        var args = job.Args;
        if (job.Method.Name == nameof(WorkflowStepJob.RunAsync))
        {
            return args.Count > 3 && args[1] is string name && args[2] is long id && args[3] is string step ? (name, id, step) : null;
        }

        return args.Count > 1 && args[1] is string label && Label().Match(label) is { Success: true } match &&
               long.TryParse(match.Groups["id"].ValueSpan, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var workflowId)
            ? (match.Groups["workflow"].Value, workflowId, match.Groups["step"].Value)
            : null;
    }

    /// <summary>
    /// Only the workflow id a step job names (the claim's hint), read without allocating: the first " #digits › " of the
    /// label, or the third argument of the earlier form. Null when there is none.
    /// </summary>
    public static long? ReadWorkflowId(Job job)
    {
        var args = job.Args;
        if (job.Method.Name == nameof(WorkflowStepJob.RunAsync))
        {
            return args.Count > 2 && args[2] is long id ? id : null;
        }

        if (args.Count < 2 || args[1] is not string label)
        {
            return null;
        }

        var text = label.AsSpan();
        for (var at = text.IndexOf(" #", StringComparison.Ordinal); at >= 0; at = NextMark(text, at))
        {
            var rest = text[(at + 2)..];
            var digits = 0;
            while (digits < rest.Length && digits <= 18 && char.IsAsciiDigit(rest[digits]))
            {
                digits++;
            }

            if (digits is > 0 and <= 18 && rest[digits..].StartsWith(" › ", StringComparison.Ordinal))
            {
                return long.Parse(rest[..digits], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static int NextMark(ReadOnlySpan<char> text, int at)
    {
        var next = text[(at + 1)..].IndexOf(" #", StringComparison.Ordinal);
        return next < 0 ? -1 : at + 1 + next;
    }

    [GeneratedRegex("^(?<workflow>.*?) #(?<id>[0-9]{1,18}) › (?<step>.*)$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex Label();
}
