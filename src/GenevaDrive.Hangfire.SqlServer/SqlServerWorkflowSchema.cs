using GenevaDrive.SqlServer;

namespace GenevaDrive;

/// <summary>The SQL Server install script as text, for review or for a DBA to run (e.g. in SSMS or sqlcmd).</summary>
public static class SqlServerWorkflowSchema
{
    /// <summary>The latest schema version the SQL Server storage installs.</summary>
    public static int LatestVersion => SqlServerDialect.LoadScript("GenevaDrive").LatestVersion;

    /// <summary>Returns the complete install script for <paramref name="schemaName"/>.</summary>
    /// <param name="schemaName">The schema; see <see cref="SqlServerWorkflowStorageOptions.SchemaName"/>.</param>
    /// <returns>The script, batches separated by <c>GO</c>.</returns>
    public static string GetInstallScript(string schemaName = "GenevaDrive")
    {
        var schema = Storage.SqlIdentifier.ValidateSchemaName(schemaName, nameof(schemaName));
        return SqlServerDialect.LoadScript(schema).ToText(
            $"-- GenevaDrive.Hangfire schema for SQL Server, schema [{schema}]. Run on a database without these tables; " +
            $"to upgrade, run the migrations above the version in [{schema}].[SchemaVersion].",
            SqlServerDialect.Preamble(schema),
            version => SqlServerDialect.RecordVersion(schema, version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }
}
