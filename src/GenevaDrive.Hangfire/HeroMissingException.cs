namespace GenevaDrive;

/// <summary>
/// Thrown by <c>Hero</c> when the hero of a workflow declared with <c>MayProceedWithoutHero()</c> no longer exists.
/// A condition (<c>CancelIf</c>, <c>skipIf</c>, <c>onlyIf</c>) that reads the missing hero does not hold: the
/// workflow is not canceled, a <c>skipIf</c> step runs and an <c>onlyIf</c> step is skipped. A step body that reads
/// it fails with this exception through its exception policy; bodies that can run without the hero read
/// <c>HeroOrDefault</c> instead.
/// </summary>
public sealed class HeroMissingException : GenevaDriveException
{
    internal HeroMissingException(string workflowType, long workflowId)
        : base($"The hero of workflow {workflowType} #{workflowId} no longer exists. This workflow may proceed without its hero: " +
               "read HeroOrDefault and handle null where the step can do without it.")
    {
    }
}
