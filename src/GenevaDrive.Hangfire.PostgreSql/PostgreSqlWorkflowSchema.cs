using GenevaDrive.PostgreSql;

namespace GenevaDrive;

/// <summary>The PostgreSQL install script as text, for review or for a DBA to run.</summary>
public static class PostgreSqlWorkflowSchema
{
    /// <summary>The latest schema version the PostgreSQL storage installs.</summary>
    public static int LatestVersion => PostgreSqlDialect.LoadScript("genevadrive").LatestVersion;

    /// <summary>Returns the complete install script for <paramref name="schemaName"/>.</summary>
    /// <param name="schemaName">The schema; see <see cref="PostgreSqlWorkflowStorageOptions.SchemaName"/>.</param>
    /// <returns>The script; statements are separated by lines reading <c>GO</c>.</returns>
    public static string GetInstallScript(string schemaName = "genevadrive")
    {
        var schema = Storage.Sql.SqlIdentifier.ValidateSchemaName(schemaName, nameof(schemaName));
        return PostgreSqlDialect.LoadScript(schema).ToText(
            $"-- GenevaDrive.Hangfire schema for PostgreSQL, schema \"{schema}\". Run on a database without these tables; " +
            $"to upgrade, run the migrations above the version in \"{schema}\".\"SchemaVersion\".",
            PostgreSqlDialect.Preamble(schema),
            version => PostgreSqlDialect.RecordVersion(schema, version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }
}
