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

    /// <summary>
    /// The SQLite dialect itself, for code that builds on the storage contract — a storage package that wraps or
    /// extends it, or a test of the contract. Applications call <see cref="UseSqlite"/> instead.
    /// </summary>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string.</param>
    /// <param name="configure">Adjusts the storage options.</param>
    /// <returns>A new dialect; dispose it when done.</returns>
    public static GenevaDrive.Storage.SqlDialect CreateSqliteDialect(string connectionString, Action<SqliteWorkflowStorageOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var storage = new SqliteWorkflowStorageOptions();
        configure?.Invoke(storage);
        return new SqliteDialect(connectionString, storage);
    }
}
