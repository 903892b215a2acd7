namespace GenevaDrive;

/// <summary>
/// Thrown when code attempts a state change that the workflow or step execution state machine does not
/// allow, for example moving a completed step execution back to in progress.
/// </summary>
public sealed class InvalidStateTransitionException : GenevaDriveException
{
    /// <summary>Creates the exception for a refused transition.</summary>
    /// <param name="subject">What changes state: "workflow" or "step execution".</param>
    /// <param name="from">The current state, as stored.</param>
    /// <param name="to">The requested state, as stored.</param>
    public InvalidStateTransitionException(string subject, string from, string to)
        : base($"Cannot transition {subject} from '{from}' to '{to}'")
    {
        From = from;
        To = to;
    }

    /// <summary>The state the subject was in.</summary>
    public string From { get; }

    /// <summary>The state that was refused.</summary>
    public string To { get; }
}
