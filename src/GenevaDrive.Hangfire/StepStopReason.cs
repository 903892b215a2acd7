namespace GenevaDrive;

/// <summary>
/// Why a running step's cancellation token fired, as <see cref="StepContext.StopReason"/> tells the step. Whatever the
/// reason, a step whose token fired should stop soon: its attempt is closed when it returns.
/// </summary>
public enum StepStopReason
{
    /// <summary>The token has not fired.</summary>
    None,

    /// <summary>
    /// The Hangfire server is stopping (a deploy, a scale-in): the attempt is recorded as interrupted and the step runs
    /// again, as a new attempt, on the same job once a server picks it up.
    /// </summary>
    Shutdown,

    /// <summary>
    /// An operator deleted the step's running job (or moved it out of Processing): the workflow is paused on the step,
    /// which runs again only when the workflow is resumed.
    /// </summary>
    JobDeleted,

    /// <summary>The workflow was paused from outside while the step ran; Resume runs the step again.</summary>
    Paused,

    /// <summary>The workflow was canceled from outside while the step ran; nothing runs after it.</summary>
    Canceled,

    /// <summary>
    /// The run could not renew its lease in time (the database was unreachable, the process was frozen, or another
    /// worker took the step over): it stops before anyone else may run the step; the step runs again elsewhere.
    /// </summary>
    LeaseLost,
}
