namespace GenevaDrive.Store;

/// <summary>What a <c>WaitForChildren</c> gate decided from its children's counts.</summary>
internal enum ChildrenVerdictKind
{
    /// <summary>Not decided: the wait goes on (until its timeout).</summary>
    NotYet,

    /// <summary>The requirement is met: the wait step completes.</summary>
    Satisfied,

    /// <summary>The wait cannot be met, or a policy fails it: the step fails with <see cref="ChildWorkflowsFailedException"/>.</summary>
    Failed,

    /// <summary>A child paused under <see cref="ChildTrouble.PauseParent"/>: the parent pauses at the wait.</summary>
    PauseParent,
}

/// <summary>A gate's decision and, unless it goes on waiting, why, in words.</summary>
internal sealed record ChildrenVerdict(ChildrenVerdictKind Kind, string Text);

/// <summary>How many children of one group stand in each state.</summary>
internal sealed record ChildCounts(long Ready, long Performing, long Paused, long Finished, long Canceled)
{
    public long Ongoing => Ready + Performing + Paused;

    public long Total => Ongoing + Finished + Canceled;

    public static ChildCounts From(IEnumerable<(string State, long Count)> rows)
    {
        var by = rows.ToDictionary(r => r.State, r => r.Count, StringComparer.Ordinal);
        long Of(string state) => by.TryGetValue(state, out var n) ? n : 0;
        return new ChildCounts(Of("ready"), Of("performing"), Of("paused"), Of("finished"), Of("canceled"));
    }

    public override string ToString() =>
        $"{Finished} of {Total} finished, {Canceled} canceled, {Paused} paused, {Ready + Performing} running";
}

/// <summary>
/// A <c>WaitForChildren</c> gate: the children of the parent's step <paramref name="Group"/>, how many must finish, and what a
/// canceled or paused child means. The gate's event (<see cref="EventName"/>) is delivered by the child whose end decides it.
/// </summary>
internal sealed record ChildrenGate(string Group, ChildrenWait Until, ChildTrouble OnCanceled, ChildTrouble OnPaused)
{
    private const string Prefix = "children:";

    public string EventName => EventNameOf(Group);

    public static string EventNameOf(string group) => Prefix + group;

    /// <summary>The full decision, from the counts of every child of the group (the parent's wait step, and its arming).</summary>
    public ChildrenVerdict Judge(ChildCounts counts)
    {
        var what = $"children of '{Group}' ({counts})";
        if (counts.Canceled > 0 && OnCanceled == ChildTrouble.FailWait)
        {
            return new(ChildrenVerdictKind.Failed, $"{counts.Canceled} of the {what} were canceled, and onChildCanceled is FailWait");
        }

        if (counts.Paused > 0 && OnPaused == ChildTrouble.FailWait)
        {
            return new(ChildrenVerdictKind.Failed, $"{counts.Paused} of the {what} are paused, and onChildPaused is FailWait");
        }

        if (counts.Paused > 0 && OnPaused == ChildTrouble.PauseParent)
        {
            return new(ChildrenVerdictKind.PauseParent,
                $"{counts.Paused} of the {what} are paused, and onChildPaused is PauseParent; resume them, then this workflow");
        }

        if (Until.Minimum is not { } minimum)
        {
            return counts.Ongoing == 0
                ? new(ChildrenVerdictKind.Satisfied, $"Every child of '{Group}' ended ({counts})")
                : new(ChildrenVerdictKind.NotYet, string.Empty);
        }

        if (counts.Finished >= minimum)
        {
            return new(ChildrenVerdictKind.Satisfied, $"{Until} of the children of '{Group}' finished ({counts})");
        }

        return counts.Finished + counts.Ongoing < minimum
            ? new(ChildrenVerdictKind.Failed, $"the wait for {Until} of the children of '{Group}' can no longer be met ({counts})")
            : new(ChildrenVerdictKind.NotYet, string.Empty);
    }

    /// <summary>
    /// Whether the end (or pause) of one child may decide the wait, so the child wakes its parent: read from cheap, bounded
    /// queries, it may wake the parent early (the parent then judges all counts and waits again) but never misses the child
    /// that decides it. <paramref name="otherOngoing"/> says whether another child is still ongoing; <paramref name="otherFinished"/>
    /// counts the other finished children (up to the gate's minimum; read only when asked for).
    /// </summary>
    public async Task<bool> WokenByAsync(WorkflowState child, Func<Task<bool>> otherOngoing, Func<int, Task<long>> otherFinished)
    {
        switch (child)
        {
            case WorkflowState.Paused:
                return OnPaused != ChildTrouble.Ignore;
            case WorkflowState.Canceled when OnCanceled == ChildTrouble.FailWait:
                return true;
            case WorkflowState.Finished or WorkflowState.Canceled:
                if (!await otherOngoing().ConfigureAwait(false))
                {
                    return true;
                }

                return child == WorkflowState.Finished && Until.Minimum is { } minimum &&
                       await otherFinished(minimum).ConfigureAwait(false) + 1 >= minimum;
            default:
                return false;
        }
    }
}
