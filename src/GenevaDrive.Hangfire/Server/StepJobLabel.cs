using Hangfire.Common;

namespace GenevaDrive.Server;

/// <summary>
/// What a step job's arguments say about its step, in both forms: <see cref="WorkflowStepJob.RunStepAsync"/> (the id and the
/// label "workflow #id › step") and the earlier <see cref="WorkflowStepJob.RunAsync"/> (the id, workflow name, workflow id
/// and step name).
/// </summary>
internal static class StepJobLabel
{
    private const string IdMark = " #";
    private const string StepMark = " › ";

    public static string Format(string workflowName, long workflowId, string stepName) => $"{workflowName}{IdMark}{workflowId}{StepMark}{stepName}";

    /// <summary>
    /// The workflow name, id and step name a step job names (for the dashboard), or null when its arguments do not say (a
    /// hand-made job, or a workflow name that itself looks like a label: the workflow id is then only a hint, checked by
    /// the claim).
    /// </summary>
    public static (string Workflow, long WorkflowId, string Step)? Read(Job job)
    {
        var args = job.Args;
        if (job.Method.Name == nameof(WorkflowStepJob.RunAsync))
        {
            return args.Count > 3 && args[1] is string name && args[2] is long id && args[3] is string step ? (name, id, step) : null;
        }

        return args.Count > 1 && args[1] is string label && Find(label) is var (at, digits, workflowId)
            ? (label[..at], workflowId, label[(at + IdMark.Length + digits + StepMark.Length)..])
            : null;
    }

    /// <summary>Only the workflow id a step job names (the claim's hint), read without allocating; null when there is none.</summary>
    public static long? ReadWorkflowId(Job job)
    {
        var args = job.Args;
        if (job.Method.Name == nameof(WorkflowStepJob.RunAsync))
        {
            return args.Count > 2 && args[2] is long id ? id : null;
        }

        return args.Count > 1 && args[1] is string label && Find(label) is var (_, _, workflowId) ? workflowId : null;
    }

    /// <summary>The first " #digits › " of a label (1 to 18 digits): where it starts, how many digits, and their value.</summary>
    private static (int At, int Digits, long WorkflowId)? Find(ReadOnlySpan<char> label)
    {
        for (var at = label.IndexOf(IdMark, StringComparison.Ordinal); at >= 0;)
        {
            var rest = label[(at + IdMark.Length)..];
            var digits = 0;
            while (digits < rest.Length && digits <= 18 && char.IsAsciiDigit(rest[digits]))
            {
                digits++;
            }

            if (digits is > 0 and <= 18 && rest[digits..].StartsWith(StepMark, StringComparison.Ordinal))
            {
                return (at, digits, long.Parse(rest[..digits], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture));
            }

            var next = label[(at + 1)..].IndexOf(IdMark, StringComparison.Ordinal);
            at = next < 0 ? -1 : at + 1 + next;
        }

        return null;
    }
}
