namespace GenevaDrive.Definition;

/// <summary>Where in the user's source a step or option was declared, for configuration errors.</summary>
internal readonly record struct SourceLocation(string File, int Line)
{
    public override string ToString() =>
        string.IsNullOrEmpty(File) ? "unknown location" : $"{Path.GetFileName(File)}:{Line}";
}
