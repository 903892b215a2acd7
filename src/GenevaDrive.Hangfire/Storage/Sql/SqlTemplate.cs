using System.Text.RegularExpressions;
using GenevaDrive.Storage;

namespace GenevaDrive.Storage.Sql;

/// <summary>
/// What a database changes in the shared statements: how identifiers are quoted, how a row is locked, how rows
/// are limited, how an insert returns its identity, and how a list of ids is passed.
/// </summary>
public sealed record SqlFlavor
{
    /// <summary>The quoted names of the three tables (schema or prefix applied).</summary>
    public required string Workflows { get; init; }

    /// <inheritdoc cref="Workflows"/>
    public required string Executions { get; init; }

    /// <inheritdoc cref="Workflows"/>
    public required string Events { get; init; }

    /// <summary>The quoted name of the Operations table (contract version 3).</summary>
    public required string Operations { get; init; }

    /// <summary>True to quote identifiers as <c>[Name]</c> instead of <c>"Name"</c>.</summary>
    public bool BracketQuotes { get; init; }

    /// <summary>A table hint after the table name of a locking read (SQL Server), or empty.</summary>
    public string LockHint { get; init; } = "";

    /// <summary>A clause at the end of a locking read (<c> FOR UPDATE</c> on PostgreSQL), or empty.</summary>
    public string LockClause { get; init; } = "";

    /// <summary>Ends an INSERT so that it returns the new row's <c>Id</c>.</summary>
    public required string ReturnsId { get; init; }

    /// <summary>True when rows are limited by <c>TOP (n)</c> after SELECT; otherwise by <c>LIMIT n</c> at the end.</summary>
    public bool TopLimits { get; init; }

    /// <summary>The condition "not AllowMultiple".</summary>
    public required string NotAllowMultiple { get; init; }

    /// <summary>The count aggregate (<c>COUNT_BIG(*)</c> on SQL Server).</summary>
    public string Count { get; init; } = "COUNT(*)";

    /// <summary>After <c>ORDER BY …</c> of a page: skip <c>@Offset</c> rows and take <c>@Limit</c>.</summary>
    public required string Page { get; init; }

    /// <summary>The predicate on a column for "is one of @Ids".</summary>
    public required string InIds { get; init; }

    /// <summary>
    /// The database's current UTC time as an expression of the type the time columns hold (contract version 3): lease
    /// times are read from it, so that processes whose clocks disagree still agree on when a lease runs out.
    /// </summary>
    public required string Now { get; init; }

    /// <summary>
    /// The database's current UTC time plus <c>@LeaseMilliseconds</c>, truncated to the millisecond, as an expression of the
    /// type the time columns hold (e.g. <c>date_trunc('milliseconds', now()) + @LeaseMilliseconds * INTERVAL '1 millisecond'</c>).
    /// With it, the claim of a ready workflow's scheduled step locks, checks and writes in one round trip
    /// (<see cref="StorageStatements.ClaimReadyStepExecution"/>). Null (the default): the claim locks in one round trip and
    /// writes in a second.
    /// </summary>
    public string? LeaseExpiry { get; init; }

    /// <summary>
    /// A statement that commits the open transaction as the last statement of a batch (<c>COMMIT;</c> on PostgreSQL, where the
    /// provider then knows the transaction has ended): the finalize and the start then send their writes and the commit in
    /// one round trip (<see cref="StorageStatements.CommitTransaction"/>). Null (the default): the transaction commits by a
    /// call of its own, as a provider whose transaction object must see the commit needs.
    /// </summary>
    public string? CommitInBatch { get; init; }

    /// <summary>
    /// True when a <c>WITH</c> clause may hold <c>INSERT … RETURNING</c> statements whose rows the next ones read (PostgreSQL):
    /// a start then inserts the workflow, its first execution and its operation row in one statement
    /// (<see cref="StorageStatements.StartWorkflow"/>). False (the default): three statements.
    /// </summary>
    public bool DataModifyingCtes { get; init; }
}

/// <summary>
/// The statements every database shares, written once. Identifiers are written <c>"Quoted"</c> and turned into the
/// flavor's quoting; <c>{top:n}</c> and <c>{limit:n}</c> mark a row limit, <c>{hint}</c> and <c>{lock}</c> a locking
/// read. Each dialect adds what truly differs (its cleanup statements) and keeps them in its own file.
/// </summary>
public static partial class SqlTemplate
{
    /// <summary>Every column of the Workflows table, as the store reads them.</summary>
    internal const string WorkflowColumns =
        "\"Id\", \"Type\", \"HeroType\", \"HeroId\", \"State\", \"CurrentStepName\", \"NextStepName\", \"AllowMultiple\", \"PausedByJobId\", \"StateReason\", " +
        "\"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\", \"TraceParent\", \"ParentWorkflowId\", \"ParentStepName\"";

    /// <summary>Every column of the StepExecutions table, as the store reads them.</summary>
    internal const string ExecutionColumns =
        "\"Id\", \"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"CompletedAt\", " +
        "\"FailedAt\", \"CanceledAt\", \"SkippedAt\", \"FinishedAt\", \"ErrorClassName\", \"ErrorMessage\", \"ErrorBacktrace\", " +
        "\"JobId\", \"DispatchedAt\", \"LeaseToken\", \"HeartbeatAt\", \"LeaseExpiresAt\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", " +
        "\"Attempt\", \"Cursor\", \"Checkpoints\", \"WaitingFor\", \"WaitUntil\"";

    /// <summary>Every column of the WorkflowEvents table, as the store reads them.</summary>
    internal const string EventColumns =
        "\"Id\", \"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\", \"ConsumedByExecutionId\"";

    /// <summary>Every column of the Operations table, as the store reads them.</summary>
    internal const string OperationColumns =
        "\"OperationId\", \"WorkflowId\", \"Command\", \"Outcome\", \"ExecutionId\", \"EndedExecutionId\", \"EventId\", \"CreatedAt\"";

    /// <summary>
    /// Builds the runtime statements for a database; <paramref name="cleanup"/> supplies the cleanup statements,
    /// which differ in how they skip locked rows and bound a delete.
    /// </summary>
    public static StorageStatements Build(SqlFlavor f, Func<StorageStatements, StorageStatements> cleanup)
    {
        SqlStatement S(string name, string template) => SqlParameterCatalog.Statement(name, Render(f, template));
        string R(string template) => Render(f, template);
        const string active = "\"State\" IN ('scheduled', 'in_progress')";
        const string group = "\"ParentWorkflowId\" = @ParentWorkflowId AND \"ParentStepName\" = @ParentStepName";
        var statements = new StorageStatements
        {
            InsertWorkflow = S(nameof(StorageStatements.InsertWorkflow),
                "INSERT INTO {W} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"CurrentStepName\", \"NextStepName\", \"AllowMultiple\", \"PausedByJobId\", " +
                "\"StateReason\", \"CreatedAt\", \"UpdatedAt\", \"StartedAt\", \"TransitionedAt\", \"TraceParent\", \"ParentWorkflowId\", \"ParentStepName\") " +
                "VALUES (@Type, @HeroType, @HeroId, @State, @CurrentStepName, @NextStepName, @AllowMultiple, @PausedByJobId, @StateReason, @CreatedAt, @UpdatedAt, " +
                "@StartedAt, @TransitionedAt, @TraceParent, @ParentWorkflowId, @ParentStepName){returnsId}"),
            InsertStepExecution = S(nameof(StorageStatements.InsertStepExecution),
                "INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"Outcome\", \"ScheduledFor\", \"StartedAt\", \"JobId\", \"DispatchedAt\", " +
                "\"LeaseToken\", \"HeartbeatAt\", \"LeaseExpiresAt\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", \"Attempt\", \"Cursor\", \"WaitingFor\", \"WaitUntil\") " +
                "VALUES (@WorkflowId, @StepName, @State, @Outcome, @ScheduledFor, @StartedAt, @JobId, @DispatchedAt, @LeaseToken, @HeartbeatAt, " +
                "@LeaseExpiresAt, @Metadata, @CreatedAt, @UpdatedAt, @Attempt, @Cursor, @WaitingFor, @WaitUntil){returnsId}"),
            SelectWorkflow = S(nameof(StorageStatements.SelectWorkflow), $"SELECT {WorkflowColumns} FROM {{W}} WHERE \"Id\" = @Id;"),
            LockWorkflow = S(nameof(StorageStatements.LockWorkflow), $"SELECT {WorkflowColumns} FROM {{W}}{{hint}} WHERE \"Id\" = @Id{{lock}};"),
            SelectStepExecution = S(nameof(StorageStatements.SelectStepExecution), $"SELECT {ExecutionColumns} FROM {{E}} WHERE \"Id\" = @Id;"),
            LockStepExecution = S(nameof(StorageStatements.LockStepExecution), $"SELECT {ExecutionColumns} FROM {{E}}{{hint}} WHERE \"Id\" = @Id{{lock}};"),
            LockActiveStepExecution = S(nameof(StorageStatements.LockActiveStepExecution), $"SELECT {ExecutionColumns} FROM {{E}}{{hint}} WHERE \"WorkflowId\" = @WorkflowId AND {active}{{lock}};"),
            SelectActiveStepExecution = S(nameof(StorageStatements.SelectActiveStepExecution), $"SELECT {ExecutionColumns} FROM {{E}} WHERE \"WorkflowId\" = @WorkflowId AND {active};"),
            UpdateWorkflow = S(nameof(StorageStatements.UpdateWorkflow),
                "UPDATE {W} SET \"State\" = @State, \"CurrentStepName\" = @CurrentStepName, \"NextStepName\" = @NextStepName, \"PausedByJobId\" = @PausedByJobId, " +
                "\"StateReason\" = @StateReason, \"StartedAt\" = @StartedAt, \"TransitionedAt\" = @TransitionedAt, \"UpdatedAt\" = @UpdatedAt WHERE \"Id\" = @Id;"),
            // The cursor and checkpoint count are written only by checkpoints, never by a full-row update.
            UpdateStepExecution = S(nameof(StorageStatements.UpdateStepExecution),
                "UPDATE {E} SET \"State\" = @State, \"Outcome\" = @Outcome, \"ScheduledFor\" = @ScheduledFor, \"StartedAt\" = @StartedAt, " +
                "\"CompletedAt\" = @CompletedAt, \"FailedAt\" = @FailedAt, \"CanceledAt\" = @CanceledAt, \"SkippedAt\" = @SkippedAt, " +
                "\"FinishedAt\" = @FinishedAt, \"ErrorClassName\" = @ErrorClassName, \"ErrorMessage\" = @ErrorMessage, \"ErrorBacktrace\" = @ErrorBacktrace, " +
                "\"JobId\" = @JobId, \"DispatchedAt\" = @DispatchedAt, \"LeaseToken\" = @LeaseToken, \"HeartbeatAt\" = @HeartbeatAt, " +
                "\"LeaseExpiresAt\" = @LeaseExpiresAt, \"Metadata\" = @Metadata, \"UpdatedAt\" = @UpdatedAt WHERE \"Id\" = @Id;"),
            LockWorkflowAndStepExecution = S(nameof(StorageStatements.LockWorkflowAndStepExecution),
                $"SELECT {WorkflowColumns} FROM {{W}}{{hint}} WHERE \"Id\" = @WorkflowId{{lock}}; " +
                $"SELECT {ExecutionColumns} FROM {{E}}{{hint}} WHERE \"Id\" = @ExecutionId AND \"WorkflowId\" = @WorkflowId{{lock}};"),
            StartStepExecution = S(nameof(StorageStatements.StartStepExecution),
                "UPDATE {E} SET \"State\" = 'in_progress', \"StartedAt\" = @Now, \"JobId\" = @JobId, \"LeaseToken\" = @LeaseToken, " +
                "\"HeartbeatAt\" = @Now, \"LeaseExpiresAt\" = @LeaseExpiresAt, \"UpdatedAt\" = @Now WHERE \"Id\" = @ExecutionId; " +
                "UPDATE {W} SET \"State\" = 'performing', \"CurrentStepName\" = @StepName, \"NextStepName\" = @StepName, \"PausedByJobId\" = NULL, " +
                "\"StateReason\" = NULL, \"TransitionedAt\" = NULL, \"UpdatedAt\" = @Now WHERE \"Id\" = @WorkflowId;"),
            FinishStepExecution = S(nameof(StorageStatements.FinishStepExecution),
                "UPDATE {E} SET \"State\" = @ExecutionState, \"Outcome\" = @ExecutionOutcome, \"CompletedAt\" = @CompletedAt, \"FailedAt\" = @FailedAt, " +
                "\"CanceledAt\" = @CanceledAt, \"SkippedAt\" = @SkippedAt, \"FinishedAt\" = @FinishedAt, \"ErrorClassName\" = @ErrorClassName, " +
                "\"ErrorMessage\" = @ErrorMessage, \"ErrorBacktrace\" = @ErrorBacktrace, \"Metadata\" = @ExecutionMetadata, " +
                "\"LeaseToken\" = @ExecutionLeaseToken, \"LeaseExpiresAt\" = NULL, \"UpdatedAt\" = @Now WHERE \"Id\" = @ExecutionId; " +
                "UPDATE {W} SET \"State\" = @WorkflowState, \"CurrentStepName\" = @CurrentStepName, \"NextStepName\" = @NextStepName, " +
                "\"PausedByJobId\" = @PausedByJobId, \"StateReason\" = @StateReason, \"TransitionedAt\" = @TransitionedAt, \"UpdatedAt\" = @Now " +
                "WHERE \"Id\" = @WorkflowId;"),
            SetStepExecutionJobId = S(nameof(StorageStatements.SetStepExecutionJobId), "UPDATE {E} SET \"JobId\" = @JobId, \"DispatchedAt\" = @Now, \"UpdatedAt\" = @Now WHERE \"Id\" = @Id AND \"State\" = 'scheduled';"),
            Heartbeat = S(nameof(StorageStatements.Heartbeat),
                "UPDATE {E} SET \"HeartbeatAt\" = @Now, \"LeaseExpiresAt\" = @LeaseExpiresAt, \"UpdatedAt\" = @Now, " +
                "\"Cursor\" = CASE WHEN @Cursor IS NOT NULL AND COALESCE(\"Checkpoints\", 0) = @Checkpoints THEN @Cursor ELSE \"Cursor\" END " +
                "WHERE \"Id\" = @Id AND \"State\" = 'in_progress' AND \"LeaseToken\" = @LeaseToken;"),
            SelectWorkflowState = S(nameof(StorageStatements.SelectWorkflowState), "SELECT \"State\" FROM {W} WHERE \"Id\" = @Id;"),
            SelectLatestStepExecutionId = S(nameof(StorageStatements.SelectLatestStepExecutionId), "SELECT MAX(\"Id\") FROM {E} WHERE \"WorkflowId\" = @WorkflowId;"),
            Checkpoint = S(nameof(StorageStatements.Checkpoint),
                "UPDATE {E} SET \"Cursor\" = @Cursor, \"Checkpoints\" = COALESCE(\"Checkpoints\", 0) + 1, \"UpdatedAt\" = @Now " +
                "WHERE \"Id\" = @Id AND \"State\" = 'in_progress' AND \"LeaseToken\" = @LeaseToken;"),
            SelectLatestStepExecutionOfStep = S(nameof(StorageStatements.SelectLatestStepExecutionOfStep),
                $"SELECT {{top:1}}{ExecutionColumns} FROM {{E}} WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName ORDER BY \"Id\" DESC{{limit:1}};"),
            RenameHeroType = S(nameof(StorageStatements.RenameHeroType), "UPDATE {W} SET \"HeroType\" = @NewName WHERE \"HeroType\" = @OldName;"),
            InsertEvent = S(nameof(StorageStatements.InsertEvent),
                "INSERT INTO {V} (\"WorkflowId\", \"Name\", \"EventKey\", \"Payload\", \"TraceParent\", \"CreatedAt\", \"ConsumedAt\") " +
                "VALUES (@WorkflowId, @Name, @EventKey, @Payload, @TraceParent, @CreatedAt, @ConsumedAt){returnsId}"),
            SelectEventByKey = S(nameof(StorageStatements.SelectEventByKey), $"SELECT {EventColumns} FROM {{V}} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"EventKey\" = @EventKey;"),
            SelectUnconsumedEvent = S(nameof(StorageStatements.SelectUnconsumedEvent),
                $"SELECT {{top:1}}{EventColumns} FROM {{V}} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"ConsumedAt\" IS NULL ORDER BY \"Id\"{{limit:1}};"),
            SelectLatestConsumedEvent = S(nameof(StorageStatements.SelectLatestConsumedEvent),
                $"SELECT {{top:1}}{EventColumns} FROM {{V}} WHERE \"WorkflowId\" = @WorkflowId AND \"Name\" = @Name AND \"ConsumedByExecutionId\" IS NOT NULL ORDER BY \"Id\" DESC{{limit:1}};"),
            ConsumeEvent = S(nameof(StorageStatements.ConsumeEvent), "UPDATE {V} SET \"ConsumedAt\" = @Now, \"ConsumedByExecutionId\" = @ExecutionId WHERE \"Id\" = @Id AND \"ConsumedAt\" IS NULL;"),
            SelectEventsOfWorkflow = S(nameof(StorageStatements.SelectEventsOfWorkflow), $"SELECT {EventColumns} FROM {{V}} WHERE \"WorkflowId\" = @WorkflowId ORDER BY \"Id\";"),
            DeleteEventsOfWorkflows = S(nameof(StorageStatements.DeleteEventsOfWorkflows),
                "DELETE FROM {V} WHERE \"Id\" IN (SELECT {top:@Limit}\"Id\" FROM {V} WHERE \"WorkflowId\" {inIds}{limit:@Limit});"),
            SelectOngoingWorkflowId = S(nameof(StorageStatements.SelectOngoingWorkflowId),
                "SELECT {top:1}\"Id\" FROM {W} WHERE \"Type\" = @Type AND \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId " +
                "AND \"State\" IN ('ready', 'performing', 'paused') AND {notAllowMultiple}{limit:1};"),
            CountReattemptsByWorkflow = S(nameof(StorageStatements.CountReattemptsByWorkflow),
                "SELECT \"WorkflowId\", {count} AS \"Count\" FROM {E} WHERE \"WorkflowId\" {inIds} AND \"Outcome\" = 'reattempted' GROUP BY \"WorkflowId\";"),
            SelectFlappingWorkflows = S(nameof(StorageStatements.SelectFlappingWorkflows),
                $"SELECT {WorkflowColumns} FROM {{W}} WHERE \"State\" IN ('ready', 'performing', 'paused') AND \"Id\" IN (SELECT \"WorkflowId\" FROM {{E}} " +
                "WHERE \"State\" IN ('scheduled', 'in_progress') AND COALESCE(\"Attempt\", 1) >= @Attempt) ORDER BY \"Id\" DESC {page};"),
            SelectReattemptMetadataSinceLastSuccess = S(nameof(StorageStatements.SelectReattemptMetadataSinceLastSuccess),
                "SELECT \"Metadata\" FROM {E} WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName AND \"Outcome\" = 'reattempted' " +
                "AND \"Id\" > COALESCE((SELECT MAX(\"Id\") FROM {E} WHERE \"WorkflowId\" = @WorkflowId AND \"StepName\" = @StepName " +
                "AND \"Outcome\" IN ('success', 'skipped')), 0);"),
            SelectWorkflowsPage = StorageStatements.ForEachFilterShape(nameof(StorageStatements.SelectWorkflowsPage),
                R($"SELECT {WorkflowColumns} FROM {{W}}{{where}} ORDER BY \"Id\" DESC {{page}};"), R("\"State\" = @State"), R("\"Type\" = @Type")),
            CountWorkflows = StorageStatements.ForEachFilterShape(nameof(StorageStatements.CountWorkflows),
                R("SELECT {count} FROM {W}{where};"), R("\"State\" = @State"), R("\"Type\" = @Type")),
            SelectChildOfGroup = S(nameof(StorageStatements.SelectChildOfGroup),
                $"SELECT {WorkflowColumns} FROM {{W}} WHERE {group} AND \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId;"),
            CountChildrenByState = S(nameof(StorageStatements.CountChildrenByState),
                $"SELECT \"State\", {{count}} AS \"Count\" FROM {{W}} WHERE {group} GROUP BY \"State\";"),
            CountChildrenOfParent = S(nameof(StorageStatements.CountChildrenOfParent),
                "SELECT \"ParentStepName\", \"State\", {count} AS \"Count\" FROM {W} WHERE \"ParentWorkflowId\" = @ParentWorkflowId GROUP BY \"ParentStepName\", \"State\";"),
            SelectOngoingChildOtherThan = S(nameof(StorageStatements.SelectOngoingChildOtherThan),
                $"SELECT {{top:1}}\"Id\" FROM {{W}} WHERE {group} AND \"State\" IN ('ready', 'performing', 'paused') AND \"Id\" <> @ChildId{{limit:1}};"),
            CountFinishedChildrenUpTo = S(nameof(StorageStatements.CountFinishedChildrenUpTo),
                $"SELECT {{count}} FROM (SELECT {{top:@Limit}}\"Id\" FROM {{W}} WHERE {group} AND \"State\" = 'finished' AND \"Id\" <> @ChildId{{limit:@Limit}}) AS \"C\";"),
            SelectChildOutcomes = S(nameof(StorageStatements.SelectChildOutcomes),
                $"SELECT \"Id\", \"HeroId\", \"State\", \"StateReason\", \"Result\" FROM {{W}} WHERE {group} ORDER BY \"Id\";"),
            SelectChildrenPage = S(nameof(StorageStatements.SelectChildrenPage),
                $"SELECT {WorkflowColumns} FROM {{W}} WHERE \"ParentWorkflowId\" = @ParentWorkflowId ORDER BY \"Id\" DESC {{page}};"),
            SelectOngoingChildIds = S(nameof(StorageStatements.SelectOngoingChildIds),
                "SELECT {top:@Limit}\"Id\", \"ParentStepName\" FROM {W} WHERE \"ParentWorkflowId\" = @ParentWorkflowId AND \"State\" IN ('ready', 'performing', 'paused') ORDER BY \"Id\"{limit:@Limit};"),
            SelectOrphanedChildIds = S(nameof(StorageStatements.SelectOrphanedChildIds),
                "SELECT {top:@Limit}\"C\".\"Id\", \"C\".\"ParentWorkflowId\", \"C\".\"ParentStepName\", \"P\".\"Type\" FROM {W} \"C\" JOIN {W} \"P\" ON \"P\".\"Id\" = \"C\".\"ParentWorkflowId\" " +
                "WHERE \"C\".\"ParentWorkflowId\" IS NOT NULL AND \"C\".\"Id\" > @AfterId " +
                "AND \"C\".\"State\" IN ('ready', 'performing', 'paused') AND \"P\".\"State\" = 'canceled' ORDER BY \"C\".\"Id\"{limit:@Limit};"),
            SelectWorkflowResult = S(nameof(StorageStatements.SelectWorkflowResult), "SELECT \"Result\" FROM {W} WHERE \"Id\" = @Id;"),
            UpdateWorkflowResult = S(nameof(StorageStatements.UpdateWorkflowResult), "UPDATE {W} SET \"Result\" = @Result, \"UpdatedAt\" = @Now WHERE \"Id\" = @Id;"),
            SelectWorkflowsByHero = S(nameof(StorageStatements.SelectWorkflowsByHero), $"SELECT {WorkflowColumns} FROM {{W}} WHERE \"HeroType\" = @HeroType AND \"HeroId\" = @HeroId ORDER BY \"Id\";"),
            SelectStepExecutionHistory = S(nameof(StorageStatements.SelectStepExecutionHistory), $"SELECT {ExecutionColumns} FROM {{E}} WHERE \"WorkflowId\" = @WorkflowId ORDER BY \"CreatedAt\", \"Id\";"),
            CountWorkflowsByTypeAndState = S(nameof(StorageStatements.CountWorkflowsByTypeAndState), "SELECT \"Type\", \"State\", {count} AS \"Count\" FROM {W} GROUP BY \"Type\", \"State\";"),
            SelectInFlightWorkflowsAtStep = S(nameof(StorageStatements.SelectInFlightWorkflowsAtStep),
                $"SELECT {WorkflowColumns} FROM {{W}} WHERE \"State\" IN ('ready', 'performing', 'paused') AND \"Type\" = @Type " +
                "AND COALESCE(\"CurrentStepName\", \"NextStepName\") = @StepName ORDER BY \"Id\" DESC {page};"),
            CountInFlightWorkflowsByStep = S(nameof(StorageStatements.CountInFlightWorkflowsByStep),
                "SELECT \"Type\", COALESCE(\"CurrentStepName\", \"NextStepName\") AS \"StepName\", \"State\", {count} AS \"Count\" FROM {W} " +
                "WHERE \"State\" IN ('ready', 'performing', 'paused') GROUP BY \"Type\", COALESCE(\"CurrentStepName\", \"NextStepName\"), \"State\";"),
            SelectDueScheduledStepExecutions = S(nameof(StorageStatements.SelectDueScheduledStepExecutions),
                $"SELECT {{top:@Limit}}{ExecutionColumns} FROM {{E}} WHERE \"State\" = 'scheduled' AND \"ScheduledFor\" <= @Cutoff " +
                "AND \"WorkflowId\" IN (SELECT \"Id\" FROM {W} WHERE \"State\" = 'ready') ORDER BY \"ScheduledFor\", \"Id\"{limit:@Limit};"),
            SelectDueScheduledStepExecutionsAfter = S(nameof(StorageStatements.SelectDueScheduledStepExecutionsAfter),
                $"SELECT {{top:@Limit}}{ExecutionColumns} FROM {{E}} WHERE \"State\" = 'scheduled' AND \"ScheduledFor\" <= @Cutoff " +
                "AND (\"ScheduledFor\" > @AfterScheduledFor OR (\"ScheduledFor\" = @AfterScheduledFor AND \"Id\" > @AfterId)) " +
                "AND \"WorkflowId\" IN (SELECT \"Id\" FROM {W} WHERE \"State\" = 'ready') ORDER BY \"ScheduledFor\", \"Id\"{limit:@Limit};"),
            SelectExpiredLeases = S(nameof(StorageStatements.SelectExpiredLeases),
                $"SELECT {{top:@Limit}}{ExecutionColumns} FROM {{E}} WHERE \"State\" = 'in_progress' AND \"LeaseExpiresAt\" < @Now " +
                "ORDER BY \"LeaseExpiresAt\", \"Id\"{limit:@Limit};"),
            DeleteWorkflows = S(nameof(StorageStatements.DeleteWorkflows), "DELETE FROM {W} WHERE \"Id\" {inIds};"),
            SelectDatabaseNow = S(nameof(StorageStatements.SelectDatabaseNow), "SELECT {now} AS \"Now\";"),
            InsertOperation = S(nameof(StorageStatements.InsertOperation),
                $"INSERT INTO {{O}} ({OperationColumns}) VALUES (@OperationId, @WorkflowId, @Command, @Outcome, @ExecutionId, @EndedExecutionId, @EventId, @CreatedAt);"),
            SelectOperation = S(nameof(StorageStatements.SelectOperation), $"SELECT {OperationColumns} FROM {{O}} WHERE \"OperationId\" = @OperationId;"),
            DeleteOperationsBefore = S(nameof(StorageStatements.DeleteOperationsBefore),
                "DELETE FROM {O} WHERE \"OperationId\" IN (SELECT {top:@Limit}\"OperationId\" FROM {O} WHERE \"CreatedAt\" < @Cutoff ORDER BY \"CreatedAt\"{limit:@Limit});"),
            SelectPreviousStepExecution = S(nameof(StorageStatements.SelectPreviousStepExecution),
                $"SELECT {{top:1}}{ExecutionColumns} FROM {{E}} WHERE \"WorkflowId\" = @WorkflowId AND \"Id\" < @Id ORDER BY \"Id\" DESC{{limit:1}};"),
            SelectLatestWaitForEvent = S(nameof(StorageStatements.SelectLatestWaitForEvent),
                $"SELECT {{top:1}}{ExecutionColumns} FROM {{E}} WHERE \"WorkflowId\" = @WorkflowId AND \"WaitingFor\" = @Name ORDER BY \"Id\" DESC{{limit:1}};"),
            LockEndedWorkflowIds = SqlParameterCatalog.Declared(nameof(StorageStatements.LockEndedWorkflowIds), "Cutoff", "Limit"),
            DeleteStepExecutionsOfWorkflows = SqlParameterCatalog.Declared(nameof(StorageStatements.DeleteStepExecutionsOfWorkflows), "Ids", "Limit"),
        };
        if (f.LeaseExpiry is { } expiry)
        {
            statements = statements with
            {
                ClaimReadyStepExecution = S(nameof(StorageStatements.ClaimReadyStepExecution), ClaimReady(expiry, readsClock: true)),
                ClaimReadyStepExecutionUntil = S(nameof(StorageStatements.ClaimReadyStepExecutionUntil), ClaimReady("@LeaseExpiresAt", readsClock: false)),
            };
        }

        if (f.DataModifyingCtes)
        {
            statements = statements with
            {
                StartWorkflow = S(nameof(StorageStatements.StartWorkflow),
                    "WITH \"W\" AS (INSERT INTO {W} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"NextStepName\", \"AllowMultiple\", \"CreatedAt\", " +
                    "\"UpdatedAt\", \"StartedAt\", \"TraceParent\") VALUES (@Type, @HeroType, @HeroId, 'ready', @StepName, @AllowMultiple, @CreatedAt, @CreatedAt, " +
                    "@CreatedAt, @TraceParent) RETURNING \"Id\"), " +
                    "\"E\" AS (INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"ScheduledFor\", \"Metadata\", \"CreatedAt\", \"UpdatedAt\", \"Attempt\", " +
                    "\"WaitingFor\", \"WaitUntil\") SELECT \"Id\", @StepName, 'scheduled', @ScheduledFor, @Metadata, @CreatedAt, @CreatedAt, 1, @WaitingFor, " +
                    "@WaitUntil FROM \"W\" RETURNING \"Id\", \"WorkflowId\"), " +
                    "\"O\" AS (INSERT INTO {O} (\"OperationId\", \"WorkflowId\", \"Command\", \"ExecutionId\", \"CreatedAt\") " +
                    "SELECT @OperationId, \"WorkflowId\", @Command, \"Id\", @CreatedAt FROM \"E\") " +
                    "SELECT \"WorkflowId\", \"Id\" FROM \"E\";"),
            };
        }

        if (f.DataModifyingCtes)
        {
            statements = statements with
            {
                FinishPerformingStepExecution = S(nameof(StorageStatements.FinishPerformingStepExecution), FinishPerforming(withNext: false)),
                FinishPerformingStepExecutionAndScheduleNext = S(nameof(StorageStatements.FinishPerformingStepExecutionAndScheduleNext),
                    FinishPerforming(withNext: true)),
            };
        }

        if (f.CommitInBatch is { } commit)
        {
            statements = statements with { CommitTransaction = S(nameof(StorageStatements.CommitTransaction), commit) };
        }

        var built = cleanup(statements);
        if (built.All().FirstOrDefault(s => string.IsNullOrWhiteSpace(s.Text)) is { } unwritten)
        {
            throw new InvalidOperationException(
                $"Statement {unwritten.Name} has no text: each dialect writes it (with {nameof(SqlStatement.WithText)}) in the cleanup function it passes to Build.");
        }

        return built;
    }

    /// <summary>
    /// The one-round-trip claim: the workflow row is locked (and read as it was) first, then the execution goes in progress
    /// only if it is scheduled and its workflow ready, then the workflow goes performing only if that write happened under
    /// this lease token, then the execution row is locked and read as it now is (and the database's clock when leases are
    /// dated by it). Whatever else the rows say, nothing is written and the reader decides in the same transaction.
    /// </summary>
    private static string ClaimReady(string expiry, bool readsClock)
    {
        const string execution = "\"Id\" = @ExecutionId AND \"WorkflowId\" = @WorkflowId";
        const string stepName = "(SELECT \"StepName\" FROM {E} WHERE \"Id\" = @ExecutionId)";
        return $"SELECT {WorkflowColumns} FROM {{W}}{{hint}} WHERE \"Id\" = @WorkflowId{{lock}}; " +
               "UPDATE {E} SET \"State\" = 'in_progress', \"StartedAt\" = @Now, \"JobId\" = @JobId, \"LeaseToken\" = @LeaseToken, \"HeartbeatAt\" = @Now, " +
               $"\"LeaseExpiresAt\" = {expiry}, \"UpdatedAt\" = @Now WHERE {execution} AND \"State\" = 'scheduled' " +
               "AND EXISTS (SELECT 1 FROM {W} WHERE \"Id\" = @WorkflowId AND \"State\" = 'ready'); " +
               $"UPDATE {{W}} SET \"State\" = 'performing', \"CurrentStepName\" = {stepName}, \"NextStepName\" = {stepName}, \"PausedByJobId\" = NULL, " +
               "\"StateReason\" = NULL, \"TransitionedAt\" = NULL, \"UpdatedAt\" = @Now WHERE \"Id\" = @WorkflowId AND \"State\" = 'ready' " +
               $"AND EXISTS (SELECT 1 FROM {{E}} WHERE {execution} AND \"State\" = 'in_progress' AND \"LeaseToken\" = @LeaseToken); " +
               $"SELECT {ExecutionColumns} FROM {{E}}{{hint}} WHERE {execution}{{lock}};" + (readsClock ? " SELECT {now} AS \"Now\";" : "");
    }

    /// <summary>
    /// The finalize of a step that ran under its lease while its workflow stayed performing, in one statement after the
    /// workflow's lock: the execution is closed only if it is still in progress under this lease token (and waits for no
    /// event), the workflow moves on only if that happened in this statement, and the next execution is inserted only if
    /// the workflow moved. Then the execution row as it is now. The rows tell the reader whether it applied.
    /// </summary>
    private static string FinishPerforming(bool withNext)
    {
        // A child's last step is left to the careful finalize, which tells its parent in the same transaction.
        const string finish =
            "UPDATE {E} SET \"State\" = @ExecutionState, \"Outcome\" = @ExecutionOutcome, \"CompletedAt\" = @CompletedAt, \"FailedAt\" = @FailedAt, " +
            "\"CanceledAt\" = @CanceledAt, \"SkippedAt\" = @SkippedAt, \"FinishedAt\" = @FinishedAt, \"ErrorClassName\" = COALESCE(@ErrorClassName, \"ErrorClassName\"), " +
            "\"ErrorMessage\" = COALESCE(@ErrorMessage, \"ErrorMessage\"), \"ErrorBacktrace\" = COALESCE(@ErrorBacktrace, \"ErrorBacktrace\"), " +
            "\"Metadata\" = COALESCE(@ExecutionMetadata, \"Metadata\"), \"LeaseToken\" = @ExecutionLeaseToken, \"LeaseExpiresAt\" = NULL, \"UpdatedAt\" = @Now " +
            "WHERE \"Id\" = @ExecutionId AND \"WorkflowId\" = @WorkflowId AND \"State\" = 'in_progress' AND \"LeaseToken\" = @ExecutionLeaseToken " +
            "AND \"WaitingFor\" IS NULL AND EXISTS (SELECT 1 FROM {W} WHERE \"Id\" = @WorkflowId AND \"State\" = 'performing'{topLevel}) RETURNING \"Id\"";
        const string advance =
            "UPDATE {W} SET \"State\" = @WorkflowState, \"CurrentStepName\" = @CurrentStepName, \"NextStepName\" = @NextStepName, " +
            "\"PausedByJobId\" = @PausedByJobId, \"StateReason\" = @StateReason, \"TransitionedAt\" = @TransitionedAt, \"UpdatedAt\" = @Now " +
            "WHERE \"Id\" = @WorkflowId AND EXISTS (SELECT 1 FROM \"F\") RETURNING \"Id\"";
        // The next step's first attempt, without a gate: scheduled, no job, lease, cursor or wait yet (the columns left out stay NULL).
        const string insertNext =
            "INSERT INTO {E} (\"WorkflowId\", \"StepName\", \"State\", \"ScheduledFor\", \"CreatedAt\", \"UpdatedAt\", \"Attempt\") " +
            "SELECT @WorkflowId, @StepName, 'scheduled', @ScheduledFor, @Now, @Now, 1 FROM \"A\" RETURNING \"Id\"";
        return $"SELECT {WorkflowColumns} FROM {{W}}{{hint}} WHERE \"Id\" = @WorkflowId{{lock}}; " +
               $"WITH \"F\" AS ({finish.Replace("{topLevel}", withNext ? "" : " AND \"ParentWorkflowId\" IS NULL", StringComparison.Ordinal)}), \"A\" AS ({advance}) " + (withNext ? insertNext : "SELECT \"Id\" FROM \"A\"") + "; " +
               $"SELECT {ExecutionColumns} FROM {{E}} WHERE \"Id\" = @ExecutionId;";
    }

    /// <summary>Fills a template in the flavor's SQL (also used by the dialects for their own statements).</summary>
    public static string Render(SqlFlavor f, string template)
    {
        var text = template
            .Replace("{W}", f.Workflows, StringComparison.Ordinal)
            .Replace("{E}", f.Executions, StringComparison.Ordinal)
            .Replace("{V}", f.Events, StringComparison.Ordinal)
            .Replace("{O}", f.Operations, StringComparison.Ordinal)
            .Replace("{now}", f.Now, StringComparison.Ordinal)
            .Replace("{hint}", f.LockHint, StringComparison.Ordinal)
            .Replace("{lock}", f.LockClause, StringComparison.Ordinal)
            .Replace("{returnsId}", f.ReturnsId, StringComparison.Ordinal)
            .Replace("{notAllowMultiple}", f.NotAllowMultiple, StringComparison.Ordinal)
            .Replace("{count}", f.Count, StringComparison.Ordinal)
            .Replace("{page}", f.Page, StringComparison.Ordinal)
            .Replace("{inIds}", f.InIds, StringComparison.Ordinal);
        text = TopMarker().Replace(text, m => f.TopLimits ? $"TOP ({m.Groups[1].Value}) " : string.Empty);
        text = LimitMarker().Replace(text, m => f.TopLimits ? string.Empty : $" LIMIT {m.Groups[1].Value}");
        return f.BracketQuotes ? QuotedIdentifier().Replace(text, "[$1]") : text;
    }

    [GeneratedRegex(@"\{top:([^}]+)\}", RegexOptions.CultureInvariant)]
    private static partial Regex TopMarker();

    [GeneratedRegex(@"\{limit:([^}]+)\}", RegexOptions.CultureInvariant)]
    private static partial Regex LimitMarker();

    // Identifiers only: the statements hold no double-quoted string literals (literals are single-quoted).
    [GeneratedRegex("\"([A-Za-z_][A-Za-z0-9_]*)\"", RegexOptions.CultureInvariant)]
    private static partial Regex QuotedIdentifier();
}
