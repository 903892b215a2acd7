namespace GenevaDrive;

/// <summary>
/// Shortens a user-supplied value before it is repeated in an exception or log message, so a huge or
/// hostile value cannot flood logs: the first 100 characters, then the total length.
/// </summary>
internal static class EchoedValue
{
    public const int MaxEchoLength = 100;

    public static string Of(string? value)
    {
        if (value is null)
        {
            return "(null)";
        }

        var visible = value.Length <= MaxEchoLength ? value : value[..MaxEchoLength] + $"… ({value.Length} characters)";
        // Control characters are shown escaped so the message stays one readable line.
        return visible.Any(char.IsControl)
            ? string.Concat(visible.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()))
            : visible;
    }
}
