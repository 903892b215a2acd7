using System.Data.Common;
using System.Reflection;
using Dapper;
using System.Text;

namespace GenevaDrive.Storage;

/// <summary>
/// A versioned install script: an embedded resource of migrations, each introduced by a line
/// <c>-- @migration N</c> and split into statements by lines that read <c>GO</c>. The installers run the
/// migrations above the database's recorded version, in order, inside one guarded transaction.
/// Migrations only add.
/// </summary>
public sealed class SchemaScript
{
    private SchemaScript(IReadOnlyList<(int Version, IReadOnlyList<string> Statements)> migrations)
    {
        Migrations = migrations;
    }

    /// <summary>The migrations in order, each with its version and its statements.</summary>
    public IReadOnlyList<(int Version, IReadOnlyList<string> Statements)> Migrations { get; }

    /// <summary>The version the script brings a database to (its last migration).</summary>
    public int LatestVersion => Migrations[^1].Version;

    /// <summary>Loads the script from <paramref name="assembly"/> and fills in the validated placeholders.</summary>
    public static SchemaScript Load(Assembly assembly, string resourceName, IReadOnlyDictionary<string, string> placeholders)
    {
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"The install script resource '{resourceName}' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        foreach (var (key, value) in placeholders)
        {
            text = text.Replace(key, value, StringComparison.Ordinal);
        }

        return Parse(text);
    }

    /// <summary>Parses a script whose placeholders are already filled in.</summary>
    /// <param name="text">The script: <c>-- @migration N</c> lines (1, 2, 3, …) and statements separated by <c>GO</c> lines.</param>
    /// <returns>The parsed script.</returns>
    /// <exception cref="InvalidOperationException">The migrations are not numbered 1, 2, 3, … or there are none.</exception>
    public static SchemaScript Parse(string text)
    {
        var migrations = new List<(int, IReadOnlyList<string>)>();
        List<string>? statements = null;
        var current = new StringBuilder();
        var version = 0;

        void FlushStatement()
        {
            var statement = current.ToString().Trim();
            if (statement.Length > 0 && statements is not null)
            {
                statements.Add(statement);
            }

            current.Clear();
        }

        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith("-- @migration ", StringComparison.Ordinal))
            {
                FlushStatement();
                if (statements is not null)
                {
                    migrations.Add((version, statements));
                }

                var next = int.Parse(trimmed["-- @migration ".Length..], System.Globalization.CultureInfo.InvariantCulture);
                if (next != version + 1)
                {
                    throw new InvalidOperationException($"Install script migrations must be numbered 1, 2, 3…; found {next} after {version}.");
                }

                version = next;
                statements = [];
            }
            else if (string.Equals(trimmed, "GO", StringComparison.OrdinalIgnoreCase))
            {
                FlushStatement();
            }
            else if (statements is not null)
            {
                current.Append(line.TrimEnd('\r')).Append('\n');
            }
        }

        FlushStatement();
        if (statements is not null)
        {
            migrations.Add((version, statements));
        }

        if (migrations.Count == 0)
        {
            throw new InvalidOperationException("The install script has no migrations.");
        }

        return new SchemaScript(migrations);
    }

    /// <summary>
    /// Runs, inside <paramref name="transaction"/>, every migration above <paramref name="currentVersion"/>
    /// (and up to <paramref name="upToVersion"/> when given), recording each version with
    /// <paramref name="recordVersionSql"/> (which takes <c>@version</c>).
    /// </summary>
    public async Task ApplyAsync(DbConnection connection, DbTransaction transaction, int currentVersion, int? upToVersion,
        string recordVersionSql)
    {
        foreach (var (version, statements) in Migrations)
        {
            if (version <= currentVersion || version > (upToVersion ?? int.MaxValue))
            {
                continue;
            }

            foreach (var statement in statements)
            {
                await connection.ExecuteAsync(statement, transaction: transaction).ConfigureAwait(false);
            }

            await connection.ExecuteAsync(recordVersionSql, new { version }, transaction).ConfigureAwait(false);
        }
    }

    /// <summary>The whole script as text for a DBA, statements separated by <c>GO</c> lines.</summary>
    public string ToText(string header, IEnumerable<string> preamble, Func<int, string> recordVersion, IEnumerable<string>? epilogue = null)
    {
        var builder = new StringBuilder(header.TrimEnd()).Append("\n\n");
        foreach (var statement in preamble)
        {
            builder.Append(statement).Append("\nGO\n");
        }

        builder.Append('\n');
        foreach (var (version, statements) in Migrations)
        {
            builder.Append("-- Migration ").Append(version).Append('\n');
            foreach (var statement in statements.Append(recordVersion(version)))
            {
                builder.Append(statement).Append("\nGO\n");
            }

            builder.Append('\n');
        }

        foreach (var statement in epilogue ?? [])
        {
            builder.Append(statement).Append("\nGO\n");
        }

        return builder.ToString();
    }
}
