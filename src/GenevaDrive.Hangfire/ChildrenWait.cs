namespace GenevaDrive;

/// <summary>
/// How many of the children a step started a <see cref="WorkflowBuilder.WaitForChildren"/> step waits for:
/// <see cref="All"/> of them to end, <see cref="Any"/> one to finish, or <see cref="AtLeast"/> a number to finish.
/// </summary>
public sealed class ChildrenWait : IEquatable<ChildrenWait>
{
    private ChildrenWait(int? minimum)
    {
        Minimum = minimum;
    }

    /// <summary>Every child ends (finishes, or is canceled where canceled children are ignored).</summary>
    public static ChildrenWait All { get; } = new(null);

    /// <summary>One child finishes.</summary>
    public static ChildrenWait Any { get; } = new(1);

    /// <summary>At least <paramref name="count"/> children finish.</summary>
    /// <param name="count">How many must finish (1 or more).</param>
    /// <returns>The requirement.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1.</exception>
    public static ChildrenWait AtLeast(int count) => count >= 1
        ? new ChildrenWait(count)
        : throw new ArgumentOutOfRangeException(nameof(count), count,
            $"ChildrenWait.AtLeast needs a count of 1 or more; {count} is not. Use ChildrenWait.All to wait for every child.");

    /// <summary>How many children must finish; null for <see cref="All"/>.</summary>
    public int? Minimum { get; }

    /// <inheritdoc/>
    public bool Equals(ChildrenWait? other) => other is not null && other.Minimum == Minimum;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ChildrenWait);

    /// <inheritdoc/>
    public override int GetHashCode() => Minimum ?? 0;

    /// <summary>"all", "any" or "at least N".</summary>
    /// <returns>The requirement in words.</returns>
    public override string ToString() => Minimum switch
    {
        null => "all",
        1 => "any",
        { } n => $"at least {n}",
    };
}
