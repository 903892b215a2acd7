using GenevaDrive.SqlServer;

namespace GenevaDrive;

/// <summary>Chooses SQL Server as GenevaDrive's storage.</summary>
public static class GenevaDriveSqlServerExtensions
{
    /// <summary>Stores workflows in the SQL Server database at <paramref name="connectionString"/>.</summary>
    /// <param name="options">GenevaDrive's options.</param>
    /// <param name="connectionString">A Microsoft.Data.SqlClient connection string.</param>
    /// <param name="configure">Adjusts the storage options (schema name, schema preparation).</param>
    /// <returns>The options, for chaining.</returns>
    public static GenevaDriveOptions UseSqlServer(this GenevaDriveOptions options, string connectionString,
        Action<SqlServerWorkflowStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var storage = new SqlServerWorkflowStorageOptions();
        configure?.Invoke(storage);
        return options.UseStorage("SQL Server", () => new SqlServerDialect(connectionString, storage));
    }
}
