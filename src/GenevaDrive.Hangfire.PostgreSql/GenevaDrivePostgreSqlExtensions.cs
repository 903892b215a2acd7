using GenevaDrive.PostgreSql;

namespace GenevaDrive;

/// <summary>Chooses PostgreSQL as GenevaDrive's storage.</summary>
public static class GenevaDrivePostgreSqlExtensions
{
    /// <summary>Stores workflows in the PostgreSQL database at <paramref name="connectionString"/>.</summary>
    /// <param name="options">GenevaDrive's options.</param>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="configure">Adjusts the storage options (schema name, schema preparation).</param>
    /// <returns>The options, for chaining.</returns>
    public static GenevaDriveOptions UsePostgreSql(this GenevaDriveOptions options, string connectionString,
        Action<PostgreSqlWorkflowStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var storage = new PostgreSqlWorkflowStorageOptions();
        configure?.Invoke(storage);
        return options.UseStorage("PostgreSQL", () => new PostgreSqlDialect(connectionString, storage));
    }
}
