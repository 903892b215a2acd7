-- GenevaDrive.Hangfire schema for SQL Server. {S} is the validated schema name.
-- Migrations only add. The installer runs each one above the recorded version in its own transaction, under an
-- exclusive application lock its session holds, so concurrent installers wait for each other. An index on a table that
-- already holds rows is written {online index Name ON Table (columns)}: SqlServerDialect.OnlineIndexBuild expands it to a
-- build that runs after its migration's transaction, online and resumable where the server can, offline elsewhere.

-- @migration 1
IF OBJECT_ID(N'[{S}].[Workflows]', N'U') IS NULL
CREATE TABLE [{S}].[Workflows] (
    [Id] bigint IDENTITY(1, 1) NOT NULL CONSTRAINT [PK_{S}_Workflows] PRIMARY KEY CLUSTERED,
    [Type] nvarchar(200) NOT NULL,
    [HeroType] nvarchar(200) NOT NULL,
    [HeroId] nvarchar(200) NOT NULL,
    [State] varchar(20) NOT NULL,
    [CurrentStepName] nvarchar(200) NULL,
    [NextStepName] nvarchar(200) NULL,
    [AllowMultiple] bit NOT NULL CONSTRAINT [DF_{S}_Workflows_AllowMultiple] DEFAULT (0),
    [CreatedAt] datetime2(7) NOT NULL,
    [UpdatedAt] datetime2(7) NOT NULL,
    [StartedAt] datetime2(7) NULL,
    [TransitionedAt] datetime2(7) NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'UX_Workflows_Ongoing' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
CREATE UNIQUE NONCLUSTERED INDEX [UX_Workflows_Ongoing] ON [{S}].[Workflows] ([Type], [HeroType], [HeroId])
    WHERE [State] IN ('ready', 'performing', 'paused') AND [AllowMultiple] = 0;
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Workflows_State_TransitionedAt' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
CREATE NONCLUSTERED INDEX [IX_Workflows_State_TransitionedAt] ON [{S}].[Workflows] ([State], [TransitionedAt]);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Workflows_Hero' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
CREATE NONCLUSTERED INDEX [IX_Workflows_Hero] ON [{S}].[Workflows] ([HeroType], [HeroId]);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Workflows_Type' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
CREATE NONCLUSTERED INDEX [IX_Workflows_Type] ON [{S}].[Workflows] ([Type]);
GO
IF OBJECT_ID(N'[{S}].[StepExecutions]', N'U') IS NULL
CREATE TABLE [{S}].[StepExecutions] (
    [Id] bigint IDENTITY(1, 1) NOT NULL CONSTRAINT [PK_{S}_StepExecutions] PRIMARY KEY CLUSTERED,
    [WorkflowId] bigint NOT NULL CONSTRAINT [FK_{S}_StepExecutions_Workflows]
        FOREIGN KEY REFERENCES [{S}].[Workflows] ([Id]) ON DELETE CASCADE,
    [StepName] nvarchar(200) NOT NULL,
    [State] varchar(20) NOT NULL,
    [Outcome] varchar(20) NULL,
    [ScheduledFor] datetime2(7) NOT NULL,
    [StartedAt] datetime2(7) NULL,
    [CompletedAt] datetime2(7) NULL,
    [FailedAt] datetime2(7) NULL,
    [CanceledAt] datetime2(7) NULL,
    [SkippedAt] datetime2(7) NULL,
    [FinishedAt] datetime2(7) NULL,
    [ErrorClassName] nvarchar(400) NULL,
    [ErrorMessage] nvarchar(max) NULL,
    [ErrorBacktrace] nvarchar(max) NULL,
    [JobId] nvarchar(100) NULL,
    [Metadata] nvarchar(max) NULL,
    [CreatedAt] datetime2(7) NOT NULL,
    [UpdatedAt] datetime2(7) NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'UX_StepExecutions_Active' AND object_id = OBJECT_ID(N'[{S}].[StepExecutions]'))
CREATE UNIQUE NONCLUSTERED INDEX [UX_StepExecutions_Active] ON [{S}].[StepExecutions] ([WorkflowId])
    WHERE [State] IN ('scheduled', 'in_progress');
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_StepExecutions_State_ScheduledFor' AND object_id = OBJECT_ID(N'[{S}].[StepExecutions]'))
CREATE NONCLUSTERED INDEX [IX_StepExecutions_State_ScheduledFor] ON [{S}].[StepExecutions] ([State], [ScheduledFor]);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_StepExecutions_WorkflowId_CreatedAt' AND object_id = OBJECT_ID(N'[{S}].[StepExecutions]'))
CREATE NONCLUSTERED INDEX [IX_StepExecutions_WorkflowId_CreatedAt] ON [{S}].[StepExecutions] ([WorkflowId], [CreatedAt]);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_StepExecutions_WorkflowId_State' AND object_id = OBJECT_ID(N'[{S}].[StepExecutions]'))
CREATE NONCLUSTERED INDEX [IX_StepExecutions_WorkflowId_State] ON [{S}].[StepExecutions] ([WorkflowId], [State]);

-- @migration 2
-- @heavy builds an index on StepExecutions
-- Leases: the owner token and heartbeat of an in-progress attempt.
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'LeaseToken') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [LeaseToken] varchar(64) NULL, [HeartbeatAt] datetime2(7) NULL, [LeaseExpiresAt] datetime2(7) NULL;
GO
{online index IX_StepExecutions_State_LeaseExpiresAt ON StepExecutions ([State], [LeaseExpiresAt])}

-- @migration 3
-- When each step job was dispatched (the reconciler measures staleness from it), and which Hangfire job
-- paused a workflow (requeueing that job retries the step).
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'DispatchedAt') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [DispatchedAt] datetime2(7) NULL;
GO
IF COL_LENGTH(N'[{S}].[Workflows]', N'PausedByJobId') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [PausedByJobId] nvarchar(100) NULL;

-- @migration 4
-- @heavy retypes identifier columns and rebuilds their indexes
-- Identifiers compare by binary collation, as on PostgreSQL, SQLite and in .NET (ordinal): hero "abc" and
-- "ABC" are different heroes, step "Send" is not step "send". The indexes on these columns are rebuilt.
-- Pre-flight, before anything changes: an index or statistics a DBA added on a retyped column would make the
-- retyping fail half-way with a bare error; name them instead, with what to do.
DECLARE @blocking nvarchar(max);
SELECT @blocking = COALESCE(@blocking + N', ', N'') + QUOTENAME(OBJECT_NAME(x.[object_id])) + N'.' + QUOTENAME(x.[name])
FROM (
    SELECT i.[object_id], i.[name]
    FROM sys.indexes AS i
    JOIN sys.index_columns AS ic ON ic.[object_id] = i.[object_id] AND ic.[index_id] = i.[index_id]
    JOIN sys.columns AS c ON c.[object_id] = ic.[object_id] AND c.[column_id] = ic.[column_id]
    WHERE ((i.[object_id] = OBJECT_ID(N'[{S}].[Workflows]') AND c.[name] IN (N'Type', N'HeroType', N'HeroId', N'CurrentStepName', N'NextStepName'))
        OR (i.[object_id] = OBJECT_ID(N'[{S}].[StepExecutions]') AND c.[name] = N'StepName'))
      AND i.[name] NOT IN (N'UX_Workflows_Ongoing', N'IX_Workflows_Hero', N'IX_Workflows_Type')
    UNION
    SELECT st.[object_id], st.[name]
    FROM sys.stats AS st
    JOIN sys.stats_columns AS sc ON sc.[object_id] = st.[object_id] AND sc.[stats_id] = st.[stats_id]
    JOIN sys.columns AS c ON c.[object_id] = sc.[object_id] AND c.[column_id] = sc.[column_id]
    WHERE st.[user_created] = 1
      AND ((st.[object_id] = OBJECT_ID(N'[{S}].[Workflows]') AND c.[name] IN (N'Type', N'HeroType', N'HeroId', N'CurrentStepName', N'NextStepName'))
        OR (st.[object_id] = OBJECT_ID(N'[{S}].[StepExecutions]') AND c.[name] = N'StepName'))
) AS x;
IF @blocking IS NOT NULL
BEGIN
    DECLARE @message nvarchar(2048) = N'GenevaDrive schema migration 4 changes the collation of the identifier columns of [{S}].[Workflows] and ' +
        N'[{S}].[StepExecutions], and these objects added to them would block it: ' + @blocking + N'. Nothing was changed. Drop them, ' +
        N'run the migration (start the application, or the install script), then create them again.';
    THROW 50004, @message, 1;
END
GO
IF EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'UX_Workflows_Ongoing' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
DROP INDEX [UX_Workflows_Ongoing] ON [{S}].[Workflows];
GO
IF EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Workflows_Hero' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
DROP INDEX [IX_Workflows_Hero] ON [{S}].[Workflows];
GO
IF EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Workflows_Type' AND object_id = OBJECT_ID(N'[{S}].[Workflows]'))
DROP INDEX [IX_Workflows_Type] ON [{S}].[Workflows];
GO
ALTER TABLE [{S}].[Workflows] ALTER COLUMN [Type] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL;
GO
ALTER TABLE [{S}].[Workflows] ALTER COLUMN [HeroType] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL;
GO
ALTER TABLE [{S}].[Workflows] ALTER COLUMN [HeroId] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL;
GO
ALTER TABLE [{S}].[Workflows] ALTER COLUMN [CurrentStepName] nvarchar(200) COLLATE Latin1_General_100_BIN2 NULL;
GO
ALTER TABLE [{S}].[Workflows] ALTER COLUMN [NextStepName] nvarchar(200) COLLATE Latin1_General_100_BIN2 NULL;
GO
ALTER TABLE [{S}].[StepExecutions] ALTER COLUMN [StepName] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL;
GO
CREATE UNIQUE NONCLUSTERED INDEX [UX_Workflows_Ongoing] ON [{S}].[Workflows] ([Type], [HeroType], [HeroId])
    WHERE [State] IN ('ready', 'performing', 'paused') AND [AllowMultiple] = 0;
GO
CREATE NONCLUSTERED INDEX [IX_Workflows_Hero] ON [{S}].[Workflows] ([HeroType], [HeroId]);
GO
CREATE NONCLUSTERED INDEX [IX_Workflows_Type] ON [{S}].[Workflows] ([Type]);

-- @migration 5
-- Why a workflow is paused or canceled, in words (a failed step and its job, a deleted job, a pause from code…).
IF COL_LENGTH(N'[{S}].[Workflows]', N'StateReason') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [StateReason] nvarchar(1000) NULL;

-- @migration 6
-- Resumable steps and idempotency keys: the logical attempt of each execution (a new number after a
-- reattempt or a retry of a failure, the same after a takeover or an interruption), the cursor a
-- resumable step saved at its last checkpoint, and how many checkpoints it made.
-- The columns are nullable with a default, which changes metadata only on every edition (a NOT NULL column rewrites the
-- table outside Enterprise): new rows get the default, rows from before read as attempt 1 and no checkpoints (the code
-- reads a missing value so). Databases that applied this migration before it changed keep NOT NULL columns; both work.
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'Attempt') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [Attempt] int NULL CONSTRAINT [DF_{S}_StepExecutions_Attempt] DEFAULT (1);
GO
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'Cursor') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [Cursor] nvarchar(max) NULL;
GO
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'Checkpoints') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [Checkpoints] int NULL CONSTRAINT [DF_{S}_StepExecutions_Checkpoints] DEFAULT (0);

-- @migration 7
-- External events: what a workflow received (kept until consumed, deduplicated by key), which event a
-- scheduled step waits for and until when, and the W3C trace context captured when the workflow started.
IF OBJECT_ID(N'[{S}].[WorkflowEvents]', N'U') IS NULL
CREATE TABLE [{S}].[WorkflowEvents] (
    [Id] bigint IDENTITY(1, 1) NOT NULL CONSTRAINT [PK_{S}_WorkflowEvents] PRIMARY KEY CLUSTERED,
    [WorkflowId] bigint NOT NULL CONSTRAINT [FK_{S}_WorkflowEvents_Workflows]
        FOREIGN KEY REFERENCES [{S}].[Workflows] ([Id]) ON DELETE CASCADE,
    [Name] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [EventKey] nvarchar(200) COLLATE Latin1_General_100_BIN2 NOT NULL,
    [Payload] nvarchar(max) NULL,
    [TraceParent] varchar(100) NULL,
    [CreatedAt] datetime2(7) NOT NULL,
    [ConsumedAt] datetime2(7) NULL,
    [ConsumedByExecutionId] bigint NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'UX_WorkflowEvents_Key' AND object_id = OBJECT_ID(N'[{S}].[WorkflowEvents]'))
CREATE UNIQUE NONCLUSTERED INDEX [UX_WorkflowEvents_Key] ON [{S}].[WorkflowEvents] ([WorkflowId], [Name], [EventKey]);
GO
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'WaitingFor') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [WaitingFor] nvarchar(200) COLLATE Latin1_General_100_BIN2 NULL;
GO
IF COL_LENGTH(N'[{S}].[StepExecutions]', N'WaitUntil') IS NULL
ALTER TABLE [{S}].[StepExecutions] ADD [WaitUntil] datetime2(7) NULL;
GO
IF COL_LENGTH(N'[{S}].[Workflows]', N'TraceParent') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [TraceParent] varchar(100) NULL;

-- @migration 8
-- @heavy builds an index on Workflows
-- The dashboard lists one state newest first: read backwards from this index, a page costs its own rows only.
{online index IX_Workflows_State_Id ON Workflows ([State], [Id])}

-- @migration 9
-- Operation ids of write commands: each command writes one row in its own transaction, so a repeat of the transaction
-- after a lost commit acknowledgement finds it and returns the first attempt's result. Rows are deleted after a day.
IF OBJECT_ID(N'[{S}].[Operations]', N'U') IS NULL
CREATE TABLE [{S}].[Operations] (
    [OperationId] varchar(40) NOT NULL CONSTRAINT [PK_{S}_Operations] PRIMARY KEY NONCLUSTERED,
    [WorkflowId] bigint NOT NULL,
    [Command] varchar(20) NOT NULL,
    [Outcome] varchar(20) NULL,
    [ExecutionId] bigint NULL,
    [EndedExecutionId] bigint NULL,
    [EventId] bigint NULL,
    [CreatedAt] datetime2(7) NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Operations_CreatedAt' AND object_id = OBJECT_ID(N'[{S}].[Operations]'))
CREATE CLUSTERED INDEX [IX_Operations_CreatedAt] ON [{S}].[Operations] ([CreatedAt]);

-- @migration 10
-- Child workflows: the workflow and the step that started a child (its group), and the small result a workflow records
-- for its parent to read. Top-level workflows leave them NULL.
IF COL_LENGTH(N'[{S}].[Workflows]', N'ParentWorkflowId') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [ParentWorkflowId] bigint NULL;
GO
IF COL_LENGTH(N'[{S}].[Workflows]', N'ParentStepName') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [ParentStepName] nvarchar(200) NULL;
GO
IF COL_LENGTH(N'[{S}].[Workflows]', N'Result') IS NULL
ALTER TABLE [{S}].[Workflows] ADD [Result] nvarchar(max) NULL;

-- @migration 11
-- @heavy builds three filtered indexes on Workflows (they hold child workflows only)
-- A parent's children by group and state (the wait's counts, the dashboard's progress), by id (the dashboard's list of a
-- parent's children, newest first), and one child per hero and group: a step that starts children again after a crash
-- finds the ones it started instead of starting them twice.
{online index IX_Workflows_Parent_State ON Workflows ([ParentWorkflowId], [ParentStepName], [State]) WHERE [ParentWorkflowId] IS NOT NULL}
GO
{online unique index UX_Workflows_Child ON Workflows ([ParentWorkflowId], [ParentStepName], [HeroType], [HeroId]) WHERE [ParentWorkflowId] IS NOT NULL}
GO
{online index IX_Workflows_Parent_Id ON Workflows ([ParentWorkflowId], [Id]) WHERE [ParentWorkflowId] IS NOT NULL}
