using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive;

/// <summary>Options of the SQLite workflow storage.</summary>
public sealed class SqliteWorkflowStorageOptions
{
    private string _tablePrefix = "GenevaDrive_";

    /// <summary>
    /// The prefix of the workflow tables (letters, digits and underscores; may be empty).
    /// <value>The default value is <c>GenevaDrive_</c>, giving <c>GenevaDrive_Workflows</c> and <c>GenevaDrive_StepExecutions</c>.</value>
    /// </summary>
    /// <exception cref="ArgumentException">The prefix contains other characters.</exception>
    public string TablePrefix
    {
        get => _tablePrefix;
        set => _tablePrefix = SqlIdentifier.ValidateTablePrefix(value, nameof(TablePrefix));
    }

    /// <summary>
    /// Whether the schema is created or upgraded when the storage starts.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool PrepareSchemaIfNecessary { get; set; } = true;

    /// <summary>
    /// The timeout of every statement GenevaDrive runs; null keeps the provider's default (30 seconds).
    /// <value>The default value is <see langword="null"/>.</value>
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan? CommandTimeout { get => _commandTimeout; set => _commandTimeout = StorageOptionRules.CommandTimeout(value); }

    private TimeSpan? _commandTimeout;
}
