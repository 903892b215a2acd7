namespace GenevaDrive;

/// <summary>
/// Thrown by external control (pause, resume, cancel, skip) when the workflow is not in a state that
/// allows the operation, e.g. "Cannot pause a finished workflow". Nothing was changed.
/// </summary>
public sealed class InvalidWorkflowStateException : GenevaDriveException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message naming the operation and the current state.</param>
    public InvalidWorkflowStateException(string message)
        : base(message)
    {
    }
}
