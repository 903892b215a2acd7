using System.Data;
using System.Data.Common;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Storage;

/// <summary>
/// The public storage contract, version <see cref="StorageContract.Version"/>: what differs between databases —
/// SQL text, connections, how a locking transaction starts, how a unique-index violation and a transient fault
/// look, how the schema is installed. A storage package subclasses it (building its statements with
/// <see cref="SqlTemplate"/>), and registers it with <c>GenevaDriveOptions.UseStorage</c>. The tables, columns
/// and parameter names it must provide are those of <see cref="StorageStatements"/> and the built-in install
/// scripts; <c>StorageConformance.RunAsync</c> in GenevaDrive.Hangfire.Testing checks a storage end to end. Everything else (the transactions' logic) is shared in
/// the store. One subclass per database package.
/// </summary>
public abstract class SqlDialect : IDisposable
{
    /// <summary>
    /// The storage contract this dialect was built against: return <see cref="StorageContract.Version"/>. The
    /// constant is compiled into the storage package, so GenevaDrive can tell at start-up that a storage package
    /// was built for another version of the core, and say so, instead of failing on the first step.
    /// </summary>
    public abstract int ContractVersion { get; }

    /// <summary>The database's display name, e.g. "PostgreSQL".</summary>
    public abstract string Name { get; }

    /// <summary>Every statement the store runs, with the configured schema or prefix applied.</summary>
    public abstract StorageStatements Sql { get; }

    /// <summary>Creates a new, unopened connection.</summary>
    public abstract DbConnection CreateConnection();

    /// <summary>Begins a transaction in which the locking statements serialize writers.</summary>
    public virtual async Task<DbTransaction> BeginTransactionAsync(DbConnection connection, CancellationToken ct) =>
        await connection.BeginTransactionAsync(ct).ConfigureAwait(false);

    /// <summary>
    /// The blocking twin of <see cref="BeginTransactionAsync"/>, used by the claim and the finalize on a Hangfire worker
    /// thread (which waits for them anyway). A dialect that overrides one overrides both, the same way.
    /// </summary>
    public virtual DbTransaction BeginTransaction(DbConnection connection) => connection.BeginTransaction();

    /// <summary>True when <paramref name="exception"/> reports a unique index or constraint violation.</summary>
    public abstract bool IsUniqueViolation(Exception exception);

    /// <summary>
    /// True when <paramref name="exception"/> (or an exception inside it) is a fault that a new attempt of
    /// the whole transaction can succeed after: a deadlock victim, a serialization failure, a lock timeout,
    /// a broken or refused connection, a failover or a server starting up.
    /// </summary>
    public bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (IsTransientFault(e))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The database's own classification of one exception (not its inner exceptions).</summary>
    protected abstract bool IsTransientFault(Exception exception);

    /// <summary>Creates or upgrades the schema (idempotent, guarded against concurrent installers).</summary>
    public abstract Task InstallSchemaAsync(CancellationToken ct);

    /// <summary>
    /// Where the installer reports each migration it applies, with its duration (pass it to
    /// <see cref="SchemaScript.MigrateAsync"/>); the runtime sets it before it installs. Null for nowhere.
    /// </summary>
    public Microsoft.Extensions.Logging.ILogger? InstallLogger { get; set; }

    /// <summary>Whether <see cref="PrepareAsync"/> installs the schema (the storage option of the same name).</summary>
    public abstract bool PrepareSchemaIfNecessary { get; }

    /// <summary>
    /// Runs at start-up: installs or upgrades the schema when <see cref="PrepareSchemaIfNecessary"/> is on, then checks the
    /// version the database is at against <see cref="SchemaVersion"/>. Older: start-up fails with what to run (the option
    /// is off, or a DBA has not run the script yet) instead of the first step failing on a missing table or column.
    /// Newer (a later GenevaDrive migrated it during a rolling deploy): fine, since migrations only add; it is logged.
    /// </summary>
    public async Task PrepareAsync(CancellationToken ct)
    {
        if (PrepareSchemaIfNecessary)
        {
            await InstallSchemaAsync(ct).ConfigureAwait(false);
        }

        if (SchemaVersion is not { } needed || await ReadInstalledSchemaVersionAsync(ct).ConfigureAwait(false) is not { } installed)
        {
            return;
        }

        if (installed < needed)
        {
            throw new InvalidOperationException(
                $"The GenevaDrive schema in this {Name} database is at version {installed}, and this GenevaDrive.Hangfire needs version {needed}. " +
                (PrepareSchemaIfNecessary
                    ? "The installer ran but did not reach it; see the log for the migration that failed."
                    : "PrepareSchemaIfNecessary is off, so nothing was installed: have the install script run (the storage's GetInstallScript; on " +
                      "PostgreSQL and SQL Server every migration in it is guarded, so it is safe on an installed database" +
                      (installed > 0 ? $"; an existing SQLite file takes SqliteWorkflowSchema.GetUpgradeScript({installed}) instead" : "") +
                      "), or turn PrepareSchemaIfNecessary on."));
        }

        if (installed > needed && InstallLogger is { } logger)
        {
            Logging.RuntimeLog.NewerSchema(logger, installed, needed);
        }
    }

    /// <summary>
    /// The schema version this storage package installs (its install script's last migration), checked at start-up; null
    /// (the default) for a storage that does not version its schema.
    /// </summary>
    public virtual int? SchemaVersion => null;

    /// <summary>The schema version recorded in the database (0 when nothing is installed); null (the default) when not versioned.</summary>
    public virtual Task<int?> ReadInstalledSchemaVersionAsync(CancellationToken ct) => Task.FromResult<int?>(null);

    /// <summary>Releases pooled resources (connection pools owned by the dialect).</summary>
    public virtual void Dispose()
    {
    }

    /// <summary>The largest batch one cleanup statement may delete (bounded by the database's parameter limit).</summary>
    public virtual int MaxBatchSize => 2000;

    /// <summary>
    /// True when the database takes one writer at a time for the whole database (SQLite). New step jobs' ids are then written
    /// by the call that created the job, between its other writes, instead of in batches by a background writer that would
    /// wait for the database's write lock alongside them. False (the default): batched in the background.
    /// </summary>
    public virtual bool SingleWriter => false;

    /// <summary>
    /// The most connections the dialect's pool opens (the connection string's <c>Max Pool Size</c>); null when unknown or
    /// not pooled. Start-up warns when it is below what the Hangfire workers need (event 108).
    /// </summary>
    public virtual int? MaxPoolSize => null;

    /// <summary>The command timeout of every statement, in seconds; null keeps the provider's default.</summary>
    public virtual int? CommandTimeoutSeconds => null;

    /// <summary>
    /// The database type a parameter of this shape is sent as; null (the default) lets the provider infer it from the value.
    /// SQL Server sends times as <c>datetime2</c>, codes as <c>varchar(n)</c> and text as <c>nvarchar(n)</c> of the shape's
    /// size, so index seeks stay seeks and times keep their precision. A list of ids must stay null: it is expanded or sent
    /// as an array by the provider.
    /// </summary>
    /// <param name="parameter">The parameter: its kind and, for text, its column's size.</param>
    public virtual DbType? TypeOf(SqlParameterShape parameter) => null;
}

