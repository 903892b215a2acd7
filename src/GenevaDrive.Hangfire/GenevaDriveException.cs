namespace GenevaDrive;

/// <summary>The base class of every exception GenevaDrive.Hangfire throws on purpose.</summary>
public abstract class GenevaDriveException : Exception
{
    /// <summary>Creates the exception with a message that states the rule, the value and the fix.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused this one, if any.</param>
    protected GenevaDriveException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
