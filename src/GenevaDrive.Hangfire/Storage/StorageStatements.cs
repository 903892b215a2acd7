using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Storage;

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
    /// The whole claim of a ready workflow's scheduled step in one round trip, its lease dated by the database's clock
    /// (built when the flavor has a <see cref="SqlFlavor.LeaseExpiry"/>; null otherwise, and the claim then takes two):
    /// @WorkflowId → the workflow row as it was, locked; @ExecutionId, @JobId, @LeaseToken, @Now, @LeaseMilliseconds →
    /// the execution goes in progress and the workflow performing, only when the execution was scheduled and the
    /// workflow ready; then the execution row as it is now, locked, and the database's time.
    /// </summary>
    public SqlStatement? ClaimReadyStepExecution { get; init; }

    /// <summary>
    /// <see cref="ClaimReadyStepExecution"/> with the lease running until @LeaseExpiresAt (leases on the application's
    /// clock), and without the database's time.
    /// </summary>
    public SqlStatement? ClaimReadyStepExecutionUntil { get; init; }

    /// <summary>
    /// Commits the open transaction as the last statement of a batch (built from <see cref="SqlFlavor.CommitInBatch"/>; null
    /// when the transaction must commit by its own call).
    /// </summary>
    public SqlStatement? CommitTransaction { get; init; }

    /// <summary>
    /// A start in one statement, where the database allows it (built when the flavor has <see cref="SqlFlavor.DataModifyingCtes"/>;
    /// null otherwise, and a start runs <see cref="InsertWorkflow"/>, <see cref="InsertStepExecution"/> and
    /// <see cref="InsertOperation"/>): @Type, @HeroType, @HeroId, @AllowMultiple, @TraceParent, @CreatedAt → a ready workflow
    /// whose next step is @StepName; its first execution of @StepName, scheduled for @ScheduledFor with @Metadata, @WaitingFor
    /// and @WaitUntil; the operation row @OperationId of @Command naming both → (WorkflowId, Id) of the execution.
    /// </summary>
    public SqlStatement? StartWorkflow { get; init; }

    /// <summary>
    /// The finalize of a step that ran under its lease while its workflow stayed performing, in one round trip (built when
    /// the flavor has <see cref="SqlFlavor.DataModifyingCtes"/>): @WorkflowId → the workflow row as it was, locked; then the
    /// parameters of <see cref="FinishStepExecution"/> close the execution only if it is still in progress under
    /// @ExecutionLeaseToken and waits for no event (its error columns and metadata kept where the new ones are null), and
    /// move the workflow on only if that happened → the workflow's id, or no row; then the execution row as it is now.
    /// </summary>
    public SqlStatement? FinishPerformingStepExecution { get; init; }

    /// <summary>
    /// <see cref="FinishPerformingStepExecution"/> that also inserts the next step's first, ungated execution (@StepName,
    /// @ScheduledFor; scheduled, attempt 1, created at @Now) only if the workflow moved on → the new execution's id, or no row.
    /// </summary>
    public SqlStatement? FinishPerformingStepExecutionAndScheduleNext { get; init; }

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

    /// <summary>@ParentWorkflowId, @ParentStepName, @HeroType, @HeroId → the child that step of that parent started for that hero, if any.</summary>
    public required SqlStatement SelectChildOfGroup { get; init; }

    /// <summary>@ParentWorkflowId, @ParentStepName → (State, Count) of the children that step started.</summary>
    public required SqlStatement CountChildrenByState { get; init; }

    /// <summary>@ParentWorkflowId → (ParentStepName, State, Count) of all its children.</summary>
    public required SqlStatement CountChildrenOfParent { get; init; }

    /// <summary>@ParentWorkflowId, @ParentStepName, @ChildId → the id of one ongoing child of that group other than @ChildId, or no row.</summary>
    public required SqlStatement SelectOngoingChildOtherThan { get; init; }

    /// <summary>@ParentWorkflowId, @ParentStepName, @ChildId, @Limit → how many finished children of the group other than @ChildId, counted up to @Limit.</summary>
    public required SqlStatement CountFinishedChildrenUpTo { get; init; }

    /// <summary>@ParentWorkflowId, @ParentStepName → (Id, HeroId, State, StateReason, Result) of each child of the group, oldest first.</summary>
    public required SqlStatement SelectChildOutcomes { get; init; }

    /// <summary>@ParentWorkflowId, @Offset, @Limit → a page of the parent's children, newest first.</summary>
    public required SqlStatement SelectChildrenPage { get; init; }

    /// <summary>@ParentWorkflowId, @Limit → (Id, ParentStepName) of the parent's ongoing children (ready, performing or paused), oldest first.</summary>
    public required SqlStatement SelectOngoingChildIds { get; init; }

    /// <summary>@AfterId, @Limit → (Id, ParentWorkflowId, ParentStepName, Type of the parent) of ongoing children whose parent is canceled, by id after @AfterId (the cancel cascade's backstop).</summary>
    public required SqlStatement SelectOrphanedChildIds { get; init; }

    /// <summary>@Id → the result the workflow recorded, or NULL.</summary>
    public required SqlStatement SelectWorkflowResult { get; init; }

    /// <summary>@Id, @Result, @Now → records the workflow's result; returns rows affected.</summary>
    public required SqlStatement UpdateWorkflowResult { get; init; }

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
    public const int Version = 5;
}
