using GenevaDrive.SqlServer;

namespace GenevaDrive;

/// <summary>The SQL Server install script as text, for review or for a DBA to run (e.g. in SSMS or sqlcmd).</summary>
public static class SqlServerWorkflowSchema
{
    /// <summary>The latest schema version the SQL Server storage installs.</summary>
    public static int LatestVersion => SqlServerDialect.LoadScript("GenevaDrive").LatestVersion;

    /// <summary>
    /// Returns the complete install script for <paramref name="schemaName"/>, safe to run in sqlcmd and in SSMS (with or
    /// without SQLCMD mode) and to run again: each migration is one transaction under the installer's application lock;
    /// each of its statements runs only while the recorded version is below the migration's (so an up-to-date database
    /// is left as it is); and after any failure (the migration rolls back under <c>XACT_ABORT</c>) every later batch is
    /// compiled but not executed (<c>SET NOEXEC ON</c>), so nothing runs outside a transaction. sqlcmd stops at the
    /// first error (<c>:on error exit</c>).
    /// </summary>
    /// <param name="schemaName">The schema; see <see cref="SqlServerWorkflowStorageOptions.SchemaName"/>.</param>
    /// <returns>The script, batches separated by <c>GO</c>.</returns>
    public static string GetInstallScript(string schemaName = "GenevaDrive")
    {
        var schema = Storage.Sql.SqlIdentifier.ValidateSchemaName(schemaName, nameof(schemaName));
        var script = SqlServerDialect.LoadScript(schema);
        var text = new System.Text.StringBuilder()
            .Append($"-- GenevaDrive.Hangfire schema for SQL Server, schema [{schema}], version {script.LatestVersion}, for sqlcmd or SSMS.\n")
            .Append("-- Each migration is one transaction under the installer's lock, and each statement runs only while the recorded\n")
            .Append("-- version is below its migration's: running the script again, or on an up-to-date database, changes nothing.\n")
            .Append("-- After an error the migration rolls back and every later batch is skipped (SET NOEXEC ON); sqlcmd stops at once.\n")
            .Append(":on error exit\n");
        void Batch(string sql) => text.Append(sql).Append("\nGO\n");
        string Guard(int version) =>
            "IF @@TRANCOUNT = 0 BEGIN RAISERROR(N'GenevaDrive: an earlier batch of migration " + version.ToString(System.Globalization.CultureInfo.InvariantCulture) +
            " failed and was rolled back; nothing after it runs. The database stays at the last migration that committed: fix the cause and run the script again.', 16, 1) WITH NOWAIT; SET NOEXEC ON; END;";
        string Below(int version) =>
            $"IF ISNULL((SELECT [Version] FROM [{schema}].[SchemaVersion] WHERE [Id] = 1), 0) < {version.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

        foreach (var options in SqlServerDialect.ScriptSessionOptions)
        {
            Batch(options);
        }

        foreach (var statement in SqlServerDialect.Preamble(schema))
        {
            Batch(statement);
        }

        foreach (var (version, statements) in script.Migrations)
        {
            text.Append("\n-- Migration ").Append(version).Append('\n');
            Batch("IF @@TRANCOUNT <> 0 BEGIN RAISERROR(N'GenevaDrive: a transaction was left open before this migration; nothing more runs. Roll it back and run the script again.', 16, 1) WITH NOWAIT; SET NOEXEC ON; END;");
            Batch("BEGIN TRANSACTION; " + SqlServerDialect.AcquireInstallLock(schema));
            foreach (var statement in statements)
            {
                Batch(Guard(version));
                Batch($"{Below(version)}\n    EXEC (N'{statement.Replace("'", "''", StringComparison.Ordinal)}');");
            }

            Batch(Guard(version));
            Batch($"{Below(version)}\nBEGIN\n    {SqlServerDialect.RecordVersion(schema, version.ToString(System.Globalization.CultureInfo.InvariantCulture))}\nEND;\nCOMMIT TRANSACTION;");
        }

        text.Append('\n');
        Batch("SET NOEXEC OFF;");
        return text.ToString();
    }
}
