using GenevaDrive.Storage;

namespace GenevaDrive.Storage.Sql;

/// <summary>Validation shared by the storage packages' options.</summary>
public static class StorageOptionRules
{
    /// <summary>A command timeout is positive, or null for the provider's default.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public static TimeSpan? CommandTimeout(TimeSpan? value) =>
        value is { } v && v <= TimeSpan.Zero
            ? throw new ArgumentOutOfRangeException("CommandTimeout", v, $"CommandTimeout must be positive, or null for the provider's default. Given: {v}.")
            : value;
}
