namespace GenevaDrive;

/// <summary>
/// Thrown when a workflow definition breaks a rule: a duplicate step name, an unknown positioning
/// target, an invalid option. The message names the workflow, the step (with its source location) and
/// the rule. Raised while definitions are validated at application start-up.
/// </summary>
public sealed class StepConfigurationException : GenevaDriveException
{
    /// <summary>Creates the exception for one or more configuration errors.</summary>
    /// <param name="errors">Each error as a complete sentence.</param>
    public StepConfigurationException(IReadOnlyList<string> errors)
        : base(Format(errors))
    {
        Errors = errors;
    }

    /// <summary>Creates the exception for a single configuration error.</summary>
    /// <param name="error">The error as a complete sentence.</param>
    public StepConfigurationException(string error)
        : this(new[] { error })
    {
    }

    /// <summary>Every configuration error found, one sentence each.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string Format(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return errors.Count == 1
            ? errors[0]
            : $"{errors.Count} workflow configuration errors:{Environment.NewLine}- " +
              string.Join(Environment.NewLine + "- ", errors);
    }
}
