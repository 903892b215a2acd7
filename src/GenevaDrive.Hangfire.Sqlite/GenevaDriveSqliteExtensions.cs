using GenevaDrive.Sqlite;

namespace GenevaDrive;

/// <summary>Chooses SQLite as GenevaDrive's storage.</summary>
public static class GenevaDriveSqliteExtensions
{
    /// <summary>Stores workflows in the SQLite database at <paramref name="connectionString"/>.</summary>
    /// <param name="options">GenevaDrive's options.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=data/workflows.db</c>.</param>
    /// <param name="configure">Adjusts the storage options (table prefix, schema preparation).</param>
    /// <returns>The options, for chaining.</returns>
    public static GenevaDriveOptions UseSqlite(this GenevaDriveOptions options, string connectionString,
        Action<SqliteWorkflowStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var storage = new SqliteWorkflowStorageOptions();
        configure?.Invoke(storage);
        return options.UseStorage("SQLite", () => new SqliteDialect(connectionString, storage));
    }
}
