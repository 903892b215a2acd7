using System.Data.Common;
using System.Reflection;
using Dapper;
using System.Text;
using GenevaDrive.Storage;

namespace GenevaDrive.Storage.Sql;

/// <summary>
/// A versioned install script: an embedded resource of migrations, each introduced by a line
/// <c>-- @migration N</c> and split into statements by lines that read <c>GO</c>. A line <c>-- @heavy reason</c> right
/// after it marks a migration that reads or rewrites a whole existing table (an index build, a column retype): one a
/// large database may want a DBA to run (<see cref="MigrateAsync"/>'s <c>skipHeavy</c>). The installers run the
/// migrations above the database's recorded version, in order, each in a guarded transaction of its own.
/// Migrations only add.
/// </summary>
public sealed class SchemaScript
{
    private SchemaScript(IReadOnlyList<(int Version, IReadOnlyList<string> Statements)> migrations, IReadOnlyDictionary<int, string> heavy)
    {
        Migrations = migrations;
        Heavy = heavy;
    }

    /// <summary>The heavy migrations, each with the reason its <c>-- @heavy</c> line gives.</summary>
    public IReadOnlyDictionary<int, string> Heavy { get; }

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
        var heavy = new Dictionary<int, string>();
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
            else if (trimmed.StartsWith("-- @heavy", StringComparison.Ordinal) && statements is { Count: 0 } && current.Length == 0)
            {
                heavy[version] = trimmed["-- @heavy".Length..].Trim();
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

        return new SchemaScript(migrations, heavy);
    }

    /// <summary>
    /// Brings a database up to date one migration at a time. Each migration runs in a transaction of its own, opened by
    /// <paramref name="beginLocked"/> (which takes the installer's lock for that transaction and creates the version
    /// table when needed); the version is read again under that lock (another installer may have gone further
    /// meanwhile), the next migration's statements run with no command timeout (a migration on a large table takes as
    /// long as it takes), its version is recorded, and the transaction commits. A failure rolls back that migration
    /// only: the database stays at the last committed version, and the next run continues from there.
    /// <para>
    /// Statements that must run outside a transaction (PostgreSQL's <c>CREATE INDEX CONCURRENTLY</c>, which builds an
    /// index without blocking writes) are handed to <paramref name="runOnline"/> after the rest of their migration has
    /// committed, and the version is recorded under the lock after them; so a migration with such statements must be
    /// idempotent throughout (a crash in between repeats it).
    /// </para>
    /// </summary>
    /// <param name="connection">An open connection; the caller owns it.</param>
    /// <param name="beginLocked">Begins a transaction holding the install lock, with the version table in place.</param>
    /// <param name="selectVersionSql">Reads the recorded version (no rows: 0).</param>
    /// <param name="recordVersionSql">Records a version, given as <c>@version</c>.</param>
    /// <param name="upToVersion">The last migration to apply; null for all.</param>
    /// <param name="logger">Where each applied migration is reported with its duration; null for nowhere.</param>
    /// <param name="cancellationToken">Cancels between and inside migrations (the one in flight rolls back).</param>
    /// <param name="skipHeavy">
    /// True to stop before the first heavy migration (<see cref="Heavy"/>) and throw, with its exact statements for a DBA
    /// to run, instead of running it here.
    /// </param>
    /// <param name="isOnline">Which statements run outside the transaction; null when none do.</param>
    /// <param name="runOnline">Runs one of those, outside any transaction (required with <paramref name="isOnline"/>).</param>
    /// <param name="isTransient">
    /// Faults after which the migration is tried again (a deadlock with running steps, a lock timeout), up to
    /// <see cref="MaxRetries"/> times; null for none.
    /// </param>
    /// <returns>How many migrations were applied.</returns>
    /// <exception cref="InvalidOperationException">With <paramref name="skipHeavy"/>: the next migration is heavy.</exception>
    public async Task<int> MigrateAsync(DbConnection connection, Func<DbConnection, CancellationToken, Task<DbTransaction>> beginLocked,
        string selectVersionSql, string recordVersionSql, int? upToVersion, Microsoft.Extensions.Logging.ILogger? logger,
        CancellationToken cancellationToken, bool skipHeavy = false, Func<string, bool>? isOnline = null,
        Func<DbConnection, string, CancellationToken, Task>? runOnline = null, Func<Exception, bool>? isTransient = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(beginLocked);
        if (isOnline is not null && runOnline is null)
        {
            throw new ArgumentNullException(nameof(runOnline), "Statements said to run online need runOnline to run them.");
        }

        var applied = 0;
        var retries = 0;
        while (true)
        {
            try
            {
                var tx = await beginLocked(connection, cancellationToken).ConfigureAwait(false);
                await using (tx.ConfigureAwait(false))
                {
                    var current = await connection.ExecuteScalarAsync<int?>(
                        new CommandDefinition(selectVersionSql, transaction: tx, cancellationToken: cancellationToken)).ConfigureAwait(false) ?? 0;
                    var next = Migrations.FirstOrDefault(m => m.Version > current && m.Version <= (upToVersion ?? int.MaxValue));
                    if (next.Statements is null)
                    {
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                        return applied;
                    }

                    if (skipHeavy && Heavy.TryGetValue(next.Version, out var reason))
                    {
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                        throw new InvalidOperationException(
                            $"GenevaDrive schema migration {next.Version} is heavy ({reason}), and the storage's SkipHeavyMigrations option is on, so " +
                            $"start-up applied the migrations up to {current} and stops before it. Have a DBA run it in a quiet hour, then start again:" +
                            Environment.NewLine + string.Join(Environment.NewLine, next.Statements.Append(recordVersionSql.Replace("@version",
                                next.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))));
                    }

                    var online = isOnline is null ? [] : next.Statements.Where(isOnline).ToList();
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    foreach (var statement in next.Statements.Except(online))
                    {
                        await connection.ExecuteAsync(new CommandDefinition(statement, transaction: tx, commandTimeout: 0, cancellationToken: cancellationToken))
                            .ConfigureAwait(false);
                    }

                    if (online.Count > 0)
                    {
                        // Online statements (which may use what the others just added) cannot run in a transaction: the others
                        // commit first, without the version (they are idempotent, so a crash here only repeats them), the online
                        // ones run outside under the dialect's session lock, and the version is recorded under the lock after.
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                        foreach (var statement in online)
                        {
                            await runOnline!(connection, statement, cancellationToken).ConfigureAwait(false);
                        }

                        var recording = await beginLocked(connection, cancellationToken).ConfigureAwait(false);
                        await using (recording.ConfigureAwait(false))
                        {
                            var now = await connection.ExecuteScalarAsync<int?>(
                                new CommandDefinition(selectVersionSql, transaction: recording, cancellationToken: cancellationToken)).ConfigureAwait(false) ?? 0;
                            if (now < next.Version)
                            {
                                await connection.ExecuteAsync(new CommandDefinition(recordVersionSql, new { version = next.Version }, recording,
                                    cancellationToken: cancellationToken)).ConfigureAwait(false);
                            }

                            await recording.CommitAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                    else
                    {
                        await connection.ExecuteAsync(new CommandDefinition(recordVersionSql, new { version = next.Version }, tx, cancellationToken: cancellationToken))
                            .ConfigureAwait(false);
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    applied++;
                    if (logger is not null)
                    {
                        Logging.RuntimeLog.MigrationApplied(logger, next.Version, LatestVersion, (long)clock.Elapsed.TotalMilliseconds);
                    }
                }
            }
            catch (Exception e) when (isTransient is not null && isTransient(e) && ++retries <= MaxRetries &&
                                      !cancellationToken.IsCancellationRequested)
            {
                // A deadlock with running steps or a lock wait past the dialect's lock timeout: this migration rolled back
                // whole; try it again shortly (a schema change waits for the steps holding rows, not the other way round).
                if (logger is not null)
                {
                    Logging.RuntimeLog.MigrationRetried(logger, e, retries, MaxRetries);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250 * retries), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>How often a migration is tried again after a transient fault before the installer gives up.</summary>
    public const int MaxRetries = 20;

    /// <summary>The whole script as text for a DBA, statements separated by <c>GO</c> lines.</summary>
    public string ToText(string header, IEnumerable<string> preamble, Func<int, string> recordVersion)
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

        return builder.ToString();
    }
}
