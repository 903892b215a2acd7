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
    /// Whether start-up leaves heavy migrations (index builds and rewrites of tables that may be large) to a DBA: the
    /// installer applies the migrations before the first heavy one and fails start-up with that migration's exact
    /// statements, instead of running it itself.
    /// <value>The default value is <see langword="false"/>.</value>
    /// </summary>
    public bool SkipHeavyMigrations { get; set; }

    /// <summary>
    /// The timeout of every statement GenevaDrive runs; null keeps the provider's default (30 seconds).
    /// <value>The default value is <see langword="null"/>.</value>
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan? CommandTimeout { get => _commandTimeout; set => _commandTimeout = StorageOptionRules.CommandTimeout(value); }

    private TimeSpan? _commandTimeout;
}
