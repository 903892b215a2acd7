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

/// <summary>
/// The runtime statements, each a <see cref="SqlStatement"/> that carries its parameters with their kinds (the names below
/// are those parameters). Parameter names and kinds are shared by all databases; each dialect writes its own text from the
/// shared <see cref="SqlTemplate"/> (quoting, lock hints, row limits, identity retrieval) plus its own cleanup statements,
/// through <see cref="SqlStatement.WithText"/>, which refuses text that takes other parameters. Nothing outside the
/// template and the dialects builds SQL.
/// </summary>
public sealed record StorageStatements
{
    /// <summary>Inserts a workflow from a workflow row (its columns as parameters) and returns its id.</summary>
    public required SqlStatement InsertWorkflow { get; init; }

    /// <summary>Inserts a step execution from a step execution row (its columns as parameters) and returns its id.</summary>
    public required SqlStatement InsertStepExecution { get; init; }

    /// <summary>@Id → workflow, no lock.</summary>
    public required SqlStatement SelectWorkflow { get; init; }

    /// <summary>@Id → workflow, locked for update until the transaction ends.</summary>
    public required SqlStatement LockWorkflow { get; init; }

    /// <summary>@Id → step execution, no lock.</summary>
    public required SqlStatement SelectStepExecution { get; init; }

    /// <summary>@Id → step execution, locked for update.</summary>
    public required SqlStatement LockStepExecution { get; init; }

    /// <summary>@WorkflowId → the scheduled or in-progress execution, locked for update.</summary>
    public required SqlStatement LockActiveStepExecution { get; init; }

    /// <summary>@WorkflowId → the scheduled or in-progress execution, no lock.</summary>
    public required SqlStatement SelectActiveStepExecution { get; init; }

    /// <summary>Updates the mutable columns of a workflow from a workflow row (its columns as parameters).</summary>
    public required SqlStatement UpdateWorkflow { get; init; }

    /// <summary>Updates the mutable columns of a step execution from a step execution row (its columns as parameters).</summary>
    public required SqlStatement UpdateStepExecution { get; init; }

    /// <summary>
    /// @WorkflowId, @ExecutionId → the workflow, then the step execution (only if it belongs to that workflow), each
    /// locked for update until the transaction ends: two result sets in one round trip, in the lock order every
    /// transaction keeps.
    /// </summary>
    public required SqlStatement LockWorkflowAndStepExecution { get; init; }

    /// <summary>
    /// The claim of a scheduled execution of a ready workflow, in one round trip: @ExecutionId, @JobId, @LeaseToken,
    /// @Now, @LeaseExpiresAt → the execution goes in progress under the lease; @WorkflowId, @StepName → the workflow
    /// goes performing on that step (its pause and state reason cleared).
    /// </summary>
    public required SqlStatement StartStepExecution { get; init; }

    /// <summary>
    /// The finalize of a run, in one round trip: @ExecutionId, @ExecutionState, @ExecutionOutcome, @CompletedAt,
    /// @FailedAt, @CanceledAt, @SkippedAt, @FinishedAt, @ErrorClassName, @ErrorMessage, @ErrorBacktrace,
    /// @ExecutionMetadata, @ExecutionLeaseToken, @Now → closes the execution (its lease expiry cleared);
    /// @WorkflowId, @WorkflowState, @CurrentStepName, @NextStepName, @PausedByJobId, @StateReason, @TransitionedAt
    /// → moves its workflow on. The store may append <see cref="InsertStepExecution"/> for the next step.
    /// </summary>
    public required SqlStatement FinishStepExecution { get; init; }

    /// <summary>
    /// @Id, @JobId, @Now → records the Hangfire job of a scheduled execution; returns rows affected. Always run on its
    /// own, outside any transaction, so a dialect may make it a transaction of its own with relaxed durability (the
    /// job id is a hint the reconciler can do without).
    /// </summary>
    public required SqlStatement SetStepExecutionJobId { get; init; }

    /// <summary>
    /// @Id, @LeaseToken, @Now, @LeaseExpiresAt → refreshes a lease still held; returns rows affected. @Cursor, @Checkpoints
    /// (version 3) → also saves a resumable step's cursor, when given and the row's checkpoint count is still @Checkpoints.
    /// </summary>
    public required SqlStatement Heartbeat { get; init; }

    /// <summary>
    /// @Id, @LeaseToken, @Cursor, @Now → saves a resumable step's cursor and counts the checkpoint, only while the
    /// attempt is in progress under that lease; returns rows affected (0: a stale run's checkpoint, refused).
    /// </summary>
    public required SqlStatement Checkpoint { get; init; }

    /// <summary>@OldName, @NewName → moves workflows stored under a hero type's old name to its new one; returns rows affected.</summary>
    public required SqlStatement RenameHeroType { get; init; }

    /// <summary>
    /// @WorkflowId, @Name, @EventKey, @Payload, @TraceParent, @CreatedAt, @ConsumedAt (set for an event that came too late,
    /// version 3) → inserts an event and returns its id.
    /// </summary>
    public required SqlStatement InsertEvent { get; init; }

    /// <summary>@WorkflowId, @Name, @EventKey → that event (a duplicate delivery finds it).</summary>
    public required SqlStatement SelectEventByKey { get; init; }

    /// <summary>@WorkflowId, @Name → the oldest event of that name not yet consumed.</summary>
    public required SqlStatement SelectUnconsumedEvent { get; init; }

    /// <summary>@WorkflowId, @Name → the newest event of that name a step consumed (ConsumedByExecutionId set; version 3).</summary>
    public required SqlStatement SelectLatestConsumedEvent { get; init; }

    /// <summary>@Id, @Now, @ExecutionId → marks an event consumed by a step execution (only once).</summary>
    public required SqlStatement ConsumeEvent { get; init; }

    /// <summary>@WorkflowId → every event of the workflow, oldest first.</summary>
    public required SqlStatement SelectEventsOfWorkflow { get; init; }

    /// <summary>@Ids, @Limit → deletes at most @Limit events of those workflows (the limit is version 3); returns rows affected.</summary>
    public required SqlStatement DeleteEventsOfWorkflows { get; init; }

    /// <summary>@WorkflowId, @StepName → the newest execution of that step, no lock.</summary>
    public required SqlStatement SelectLatestStepExecutionOfStep { get; init; }

    /// <summary>@Id → the workflow's state, no lock (null when it no longer exists).</summary>
    public required SqlStatement SelectWorkflowState { get; init; }

    /// <summary>@WorkflowId → the id of its newest execution.</summary>
    public required SqlStatement SelectLatestStepExecutionId { get; init; }

    /// <summary>@Type, @HeroType, @HeroId → the id of the ongoing single-instance workflow.</summary>
    public required SqlStatement SelectOngoingWorkflowId { get; init; }

    /// <summary>@WorkflowId, @StepName → metadata of reattempted executions since the step last succeeded or was skipped.</summary>
    public required SqlStatement SelectReattemptMetadataSinceLastSuccess { get; init; }

    /// <summary>@Ids → "WorkflowId", "Count": how many executions of each of these workflows ended reattempted (the dashboard's list).</summary>
    public required SqlStatement CountReattemptsByWorkflow { get; init; }

    /// <summary>@Attempt, @Offset, @Limit → ongoing workflows whose current step is on logical attempt @Attempt or later, newest first.</summary>
    public required SqlStatement SelectFlappingWorkflows { get; init; }

    /// <summary>
    /// [<see cref="FilterShape"/>] @State, @Type (as the shape says), @Offset, @Limit → workflows, newest first.
    /// One statement per shape: a catch-all <c>(@State IS NULL OR …)</c> would share one cached plan.
    /// </summary>
    public required SqlStatement[] SelectWorkflowsPage { get; init; }

    /// <summary>[<see cref="FilterShape"/>] @State, @Type (as the shape says) → count.</summary>
    public required SqlStatement[] CountWorkflows { get; init; }

    /// <summary>The index of a filter shape: 0 none, 1 state, 2 type, 3 both.</summary>
    internal static int FilterShape(bool byState, bool byType) => (byState ? 1 : 0) + (byType ? 2 : 0);

    /// <summary>Builds the four shapes from a template with <c>{where}</c> in it and the two conditions.</summary>
    internal static SqlStatement[] ForEachFilterShape(string name, string template, string stateCondition, string typeCondition) =>
        Enumerable.Range(0, 4).Select(shape =>
        {
            var conditions = new List<string>();
            if ((shape & 1) != 0)
            {
                conditions.Add(stateCondition);
            }

            if ((shape & 2) != 0)
            {
                conditions.Add(typeCondition);
            }

            return SqlParameterCatalog.Statement(name, template.Replace("{where}",
                conditions.Count == 0 ? string.Empty : " WHERE " + string.Join(" AND ", conditions), StringComparison.Ordinal));
        }).ToArray();

    /// <summary>Every statement (the filter shapes each), for checks that apply to all of them.</summary>
    public IEnumerable<SqlStatement> All() =>
        typeof(StorageStatements).GetProperties()
            .SelectMany(p => p.GetValue(this) switch
            {
                SqlStatement one => [one],
                SqlStatement[] many => many,
                _ => Array.Empty<SqlStatement>(),
            });

    /// <summary>@HeroType, @HeroId → workflows, oldest first.</summary>
    public required SqlStatement SelectWorkflowsByHero { get; init; }

    /// <summary>@WorkflowId → executions in creation order.</summary>
    public required SqlStatement SelectStepExecutionHistory { get; init; }

    /// <summary>→ (Type, State, Count) rows: how many workflows of each type are in each state.</summary>
    public required SqlStatement CountWorkflowsByTypeAndState { get; init; }

    /// <summary>
    /// → (Type, StepName, State, Count) rows: how many in-flight workflows (ready, performing, paused) of each type stand
    /// at each step (the current step, else the next one); read through the state index (version 2).
    /// </summary>
    public required SqlStatement CountInFlightWorkflowsByStep { get; init; }

    /// <summary>
    /// @Type, @StepName, @Offset, @Limit → in-flight workflows (ready, performing, paused) of the type standing at the step
    /// (the current step, else the next one), newest first: the drift report's list and the dashboard's step filter (version 2).
    /// </summary>
    public required SqlStatement SelectInFlightWorkflowsAtStep { get; init; }

    /// <summary>@Cutoff, @Limit → scheduled executions of ready workflows due at or before the cutoff, oldest first.</summary>
    public required SqlStatement SelectDueScheduledStepExecutions { get; init; }

    /// <summary>
    /// @Cutoff, @AfterScheduledFor, @AfterId, @Limit → the same, after the keyset position (ScheduledFor, Id): the
    /// reconciler's later pages, continued across runs (version 2).
    /// </summary>
    public required SqlStatement SelectDueScheduledStepExecutionsAfter { get; init; }

    /// <summary>@Now, @Limit → in-progress executions whose lease expired.</summary>
    public required SqlStatement SelectExpiredLeases { get; init; }

    /// <summary>
    /// @Cutoff, @Limit → ids of finished or canceled workflows that ended before the cutoff, locked for update
    /// (the parent rows first, as in every transaction).
    /// </summary>
    public required SqlStatement LockEndedWorkflowIds { get; init; }

    /// <summary>@Ids, @Limit → deletes at most @Limit executions of those workflows; returns rows affected.</summary>
    public required SqlStatement DeleteStepExecutionsOfWorkflows { get; init; }

    /// <summary>@Ids → deletes those workflows; returns rows affected.</summary>
    public required SqlStatement DeleteWorkflows { get; init; }

    /// <summary>
    /// → the database's current UTC time (one row, one column): the clock of every lease (version 3). Run on its own, or
    /// appended to <see cref="LockWorkflowAndStepExecution"/> and <see cref="SelectWorkflowState"/> as a further result set.
    /// </summary>
    public required SqlStatement SelectDatabaseNow { get; init; }

    /// <summary>
    /// A write command's operation id and what it did, in the command's transaction (version 3): @OperationId, @WorkflowId,
    /// @Command, @Outcome, @ExecutionId, @EndedExecutionId, @EventId, @CreatedAt.
    /// </summary>
    public required SqlStatement InsertOperation { get; init; }

    /// <summary>@OperationId → that operation's row (a repeated transaction looks for its own commit; version 3).</summary>
    public required SqlStatement SelectOperation { get; init; }

    /// <summary>@Cutoff, @Limit → deletes at most @Limit operation rows written before the cutoff; returns rows affected (version 3).</summary>
    public required SqlStatement DeleteOperationsBefore { get; init; }

    /// <summary>@WorkflowId, @Id → the workflow's execution just before that one, no lock (version 3).</summary>
    public required SqlStatement SelectPreviousStepExecution { get; init; }

    /// <summary>@WorkflowId, @Name → the newest execution that waited for an event of that name, no lock (version 3).</summary>
    public required SqlStatement SelectLatestWaitForEvent { get; init; }

    /// <summary>Run on the cleanup's connection before its transaction (e.g. a low deadlock priority); null for none.</summary>
    public string? CleanupSessionSetup { get; init; }

    /// <summary>Undoes <see cref="CleanupSessionSetup"/> before the connection returns to the pool; null for none.</summary>
    public string? CleanupSessionReset { get; init; }
}

/// <summary>
/// The version of the storage contract (<see cref="SqlDialect"/>, <see cref="StorageStatements"/>, the tables and
/// columns behind them). It changes whenever a storage package must change with the core — a new statement, a new
/// column — so storage packages are used with the core of the same contract version (in practice: the same
/// package version); GenevaDrive checks it at start-up.
/// </summary>
public static class StorageContract
{
    /// <summary>The contract this core implements.</summary>
    public const int Version = 4;
}
