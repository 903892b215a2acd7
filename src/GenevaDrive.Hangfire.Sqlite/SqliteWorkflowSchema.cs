using GenevaDrive.Sqlite;

namespace GenevaDrive;

/// <summary>The SQLite install script as text, for review or for running by hand.</summary>
public static class SqliteWorkflowSchema
{
    /// <summary>The latest schema version the SQLite storage installs.</summary>
    public static int LatestVersion => SqliteDialect.LoadScript("GenevaDrive_").LatestVersion;

    /// <summary>Returns the complete install script for <paramref name="tablePrefix"/>.</summary>
    /// <param name="tablePrefix">The table prefix; see <see cref="SqliteWorkflowStorageOptions.TablePrefix"/>.</param>
    /// <returns>The script; statements are separated by lines reading <c>GO</c>.</returns>
    public static string GetInstallScript(string tablePrefix = "GenevaDrive_")
    {
        var prefix = Storage.Sql.SqlIdentifier.ValidateTablePrefix(tablePrefix, nameof(tablePrefix));
        return SqliteDialect.LoadScript(prefix).ToText(
            $"-- GenevaDrive.Hangfire schema for SQLite, table prefix '{prefix}'. Run on a database without these tables; " +
            $"to upgrade, run the migrations above the version in \"{prefix}SchemaVersion\".",
            [SqliteDialect.CreateVersionTable(prefix)],
            version => SqliteDialect.RecordVersion(prefix, version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Returns the script that brings an existing database at schema version <paramref name="fromVersion"/> to
    /// <see cref="LatestVersion"/>, for running by hand (for example with the <c>sqlite3</c> shell and <c>.bail on</c>).
    /// SQLite has no conditional schema changes, so unlike the PostgreSQL and SQL Server scripts this one is cut for the
    /// version the database is at: read it from the <c>SchemaVersion</c> table first. Each migration is one
    /// <c>BEGIN IMMEDIATE … COMMIT</c> transaction that records its version; at the latest version the script changes nothing.
    /// </summary>
    /// <param name="fromVersion">The version recorded in the database (<c>SELECT "Version" FROM "{prefix}SchemaVersion"</c>).</param>
    /// <param name="tablePrefix">The table prefix; see <see cref="SqliteWorkflowStorageOptions.TablePrefix"/>.</param>
    /// <returns>The script; statements end with semicolons.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fromVersion"/> is below 1 or above <see cref="LatestVersion"/>.</exception>
    public static string GetUpgradeScript(int fromVersion, string tablePrefix = "GenevaDrive_")
    {
        var prefix = Storage.Sql.SqlIdentifier.ValidateTablePrefix(tablePrefix, nameof(tablePrefix));
        var script = SqliteDialect.LoadScript(prefix);
        if (fromVersion < 1 || fromVersion > script.LatestVersion)
        {
            throw new ArgumentOutOfRangeException(nameof(fromVersion), fromVersion,
                $"The version to upgrade from must be one this package knows, 1 to {script.LatestVersion}; {fromVersion} is not. Read it with " +
                $"SELECT \"Version\" FROM \"{prefix}SchemaVersion\"; a database without that table is new: run GetInstallScript instead.");
        }

        var text = new System.Text.StringBuilder(
            $"-- GenevaDrive.Hangfire schema upgrade for SQLite, table prefix '{prefix}', from version {fromVersion} to {script.LatestVersion}.\n");
        foreach (var (version, statements) in script.Migrations.Where(m => m.Version > fromVersion))
        {
            text.Append("\n-- Migration ").Append(version).Append("\nBEGIN IMMEDIATE;\n");
            foreach (var statement in statements.Append(SqliteDialect.RecordVersion(prefix, version.ToString(System.Globalization.CultureInfo.InvariantCulture))))
            {
                var trimmed = statement.Trim();
                text.Append(trimmed).Append(trimmed.EndsWith(';') ? "\n" : ";\n");
            }

            text.Append("COMMIT;\n");
        }

        if (fromVersion == script.LatestVersion)
        {
            text.Append("-- The database is at the latest version: nothing to run.\n");
        }

        return text.ToString();
    }
}
