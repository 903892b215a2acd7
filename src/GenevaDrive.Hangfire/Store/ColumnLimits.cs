using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// The bounded columns, enforced in code on every database: a value that does not fit is shortened rather
/// than failing the write — a finalize must never fail on data (SQL Server would reject it with error 2628
/// on every retry, forever).
/// </summary>
internal static class ColumnLimits
{
    public const int ErrorClassNameLength = 400;
    public const int JobIdLength = 100;
    public const int StateReasonLength = 1000;

    public static string JobId(string value) => Fit(value, JobIdLength)!;

    public static void Apply(StepExecutionRecord execution)
    {
        execution.ErrorClassName = Fit(execution.ErrorClassName, ErrorClassNameLength);
        execution.JobId = Fit(execution.JobId, JobIdLength);
    }

    public static string? Fit(string? value, int length)
    {
        if (value is null || value.Length <= length)
        {
            return value;
        }

        // Never cut a surrogate pair in half.
        var cut = char.IsHighSurrogate(value[length - 1]) ? length - 1 : length;
        return value[..cut];
    }
}
