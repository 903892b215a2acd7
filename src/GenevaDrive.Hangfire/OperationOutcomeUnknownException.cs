namespace GenevaDrive;

/// <summary>
/// Thrown when a write command (start, pause, resume, cancel, skip, jump, send event) sent its commit to the database
/// but never learned whether the commit took effect, and could not find out before its retry budget ran out (the
/// connection broke at the commit and the database stayed unreachable). The change may or may not have been applied:
/// GenevaDrive does not guess. Every command writes its <see cref="OperationId"/> in its own transaction, so once the
/// database is reachable again the workflow's state (and the dashboard's history) tells which it was.
/// </summary>
public sealed class OperationOutcomeUnknownException : GenevaDriveException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="operationId">The command's operation id.</param>
    /// <param name="command">The command, e.g. "skip".</param>
    /// <param name="workflowId">The workflow it was applied to (0 for a start whose workflow id was not learned).</param>
    /// <param name="innerException">The last fault.</param>
    public OperationOutcomeUnknownException(string operationId, string command, long workflowId, Exception innerException)
        : base($"The outcome of {command} (operation {operationId}{(workflowId == 0 ? "" : $", workflow {workflowId}")}) is unknown: its commit was sent, " +
               "but the connection failed before the database acknowledged it, and the database could not be asked again before the retry " +
               $"budget ran out ({innerException.Message}). The change was either applied once or not at all. Check the workflow's state " +
               "(IWorkflowClient.GetAsync or the dashboard) before sending the command again; a start can be looked up with GetByHeroAsync.",
            innerException)
    {
        OperationId = operationId;
        Command = command;
        WorkflowId = workflowId;
    }

    /// <summary>The command's operation id (32 hex digits), as stored in the Operations table.</summary>
    public string OperationId { get; }

    /// <summary>The command: start, pause, resume, cancel, skip, jump or event.</summary>
    public string Command { get; }

    /// <summary>The workflow the command was applied to; 0 for a start whose outcome is unknown.</summary>
    public long WorkflowId { get; }
}
