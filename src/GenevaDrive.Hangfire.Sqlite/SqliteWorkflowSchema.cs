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
}
