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
            $"-- GenevaDrive.Hangfire schema for SQL Server, schema [{schema}], for sqlcmd or SSMS. Every migration is guarded, so it is\n" +
            $"-- safe on an installed database; it runs in one transaction under the same application lock as the installer.",
            SqlServerDialect.ScriptSessionOptions.Append("BEGIN TRANSACTION;").Append(SqlServerDialect.AcquireInstallLock(schema))
                .Concat(SqlServerDialect.Preamble(schema)),
            version => SqlServerDialect.RecordVersion(schema, version.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            epilogue: ["COMMIT TRANSACTION;"]);
    }
}
