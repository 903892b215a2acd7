using GenevaDrive.Storage;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive;

/// <summary>Options of the SQL Server workflow storage.</summary>
public sealed class SqlServerWorkflowStorageOptions
{
    private string _schemaName = "GenevaDrive";

    /// <summary>
    /// The schema holding the workflow tables (letters, digits and underscores, starting with a letter or underscore).
    /// <value>The default value is <c>GenevaDrive</c>.</value>
    /// </summary>
    /// <exception cref="ArgumentException">The name contains other characters.</exception>
    public string SchemaName
    {
        get => _schemaName;
        set => _schemaName = SqlIdentifier.ValidateSchemaName(value, nameof(SchemaName));
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
