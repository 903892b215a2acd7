-- GenevaDrive.Hangfire schema for SQLite. {P} is the validated table prefix.
-- Migrations only add. The installer runs those above the recorded version in one IMMEDIATE transaction.

-- @migration 1
CREATE TABLE IF NOT EXISTS "{P}Workflows" (
    "Id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "Type" TEXT NOT NULL,
    "HeroType" TEXT NOT NULL,
    "HeroId" TEXT NOT NULL,
    "State" TEXT NOT NULL,
    "CurrentStepName" TEXT NULL,
    "NextStepName" TEXT NULL,
    "AllowMultiple" INTEGER NOT NULL DEFAULT 0,
    "CreatedAt" TEXT NOT NULL,
    "UpdatedAt" TEXT NOT NULL,
    "StartedAt" TEXT NULL,
    "TransitionedAt" TEXT NULL
);
GO
CREATE UNIQUE INDEX IF NOT EXISTS "UX_{P}Workflows_Ongoing" ON "{P}Workflows" ("Type", "HeroType", "HeroId")
    WHERE "State" IN ('ready', 'performing', 'paused') AND "AllowMultiple" = 0;
GO
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_State_TransitionedAt" ON "{P}Workflows" ("State", "TransitionedAt");
GO
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_Hero" ON "{P}Workflows" ("HeroType", "HeroId");
GO
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_Type" ON "{P}Workflows" ("Type");
GO
CREATE TABLE IF NOT EXISTS "{P}StepExecutions" (
    "Id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "WorkflowId" INTEGER NOT NULL REFERENCES "{P}Workflows" ("Id") ON DELETE CASCADE,
    "StepName" TEXT NOT NULL,
    "State" TEXT NOT NULL,
    "Outcome" TEXT NULL,
    "ScheduledFor" TEXT NOT NULL,
    "StartedAt" TEXT NULL,
    "CompletedAt" TEXT NULL,
    "FailedAt" TEXT NULL,
    "CanceledAt" TEXT NULL,
    "SkippedAt" TEXT NULL,
    "FinishedAt" TEXT NULL,
    "ErrorClassName" TEXT NULL,
    "ErrorMessage" TEXT NULL,
    "ErrorBacktrace" TEXT NULL,
    "JobId" TEXT NULL,
    "Metadata" TEXT NULL,
    "CreatedAt" TEXT NOT NULL,
    "UpdatedAt" TEXT NOT NULL
);
GO
CREATE UNIQUE INDEX IF NOT EXISTS "UX_{P}StepExecutions_Active" ON "{P}StepExecutions" ("WorkflowId")
    WHERE "State" IN ('scheduled', 'in_progress');
GO
CREATE INDEX IF NOT EXISTS "IX_{P}StepExecutions_State_ScheduledFor" ON "{P}StepExecutions" ("State", "ScheduledFor");
GO
CREATE INDEX IF NOT EXISTS "IX_{P}StepExecutions_WorkflowId_CreatedAt" ON "{P}StepExecutions" ("WorkflowId", "CreatedAt");
GO
CREATE INDEX IF NOT EXISTS "IX_{P}StepExecutions_WorkflowId_State" ON "{P}StepExecutions" ("WorkflowId", "State");

-- @migration 2
-- @heavy builds an index on StepExecutions
-- Leases: the owner token and heartbeat of an in-progress attempt.
ALTER TABLE "{P}StepExecutions" ADD COLUMN "LeaseToken" TEXT NULL;
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "HeartbeatAt" TEXT NULL;
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "LeaseExpiresAt" TEXT NULL;
GO
CREATE INDEX IF NOT EXISTS "IX_{P}StepExecutions_State_LeaseExpiresAt" ON "{P}StepExecutions" ("State", "LeaseExpiresAt");

-- @migration 3
-- When each step job was dispatched (the reconciler measures staleness from it), and which Hangfire job
-- paused a workflow (requeueing that job retries the step).
ALTER TABLE "{P}StepExecutions" ADD COLUMN "DispatchedAt" TEXT NULL;
GO
ALTER TABLE "{P}Workflows" ADD COLUMN "PausedByJobId" TEXT NULL;

-- @migration 4
-- (SQL Server moves its identifier columns to a binary collation here; SQLite's BINARY collation already
-- compares them exactly. The version is kept in step across databases.)
SELECT 1;

-- @migration 5
-- Why a workflow is paused or canceled, in words (a failed step and its job, a deleted job, a pause from code…).
ALTER TABLE "{P}Workflows" ADD COLUMN "StateReason" TEXT NULL;

-- @migration 6
-- Resumable steps and idempotency keys: the logical attempt of each execution (a new number after a
-- reattempt or a retry of a failure, the same after a takeover or an interruption), the cursor a
-- resumable step saved at its last checkpoint, and how many checkpoints it made.
ALTER TABLE "{P}StepExecutions" ADD COLUMN "Attempt" INTEGER NOT NULL DEFAULT 1;
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "Cursor" TEXT NULL;
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "Checkpoints" INTEGER NOT NULL DEFAULT 0;

-- @migration 7
-- External events: what a workflow received (kept until consumed, deduplicated by key), which event a
-- scheduled step waits for and until when, and the W3C trace context captured when the workflow started.
CREATE TABLE IF NOT EXISTS "{P}WorkflowEvents" (
    "Id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "WorkflowId" INTEGER NOT NULL REFERENCES "{P}Workflows" ("Id") ON DELETE CASCADE,
    "Name" TEXT NOT NULL,
    "EventKey" TEXT NOT NULL,
    "Payload" TEXT NULL,
    "TraceParent" TEXT NULL,
    "CreatedAt" TEXT NOT NULL,
    "ConsumedAt" TEXT NULL,
    "ConsumedByExecutionId" INTEGER NULL
);
GO
CREATE UNIQUE INDEX IF NOT EXISTS "UX_{P}WorkflowEvents_Key" ON "{P}WorkflowEvents" ("WorkflowId", "Name", "EventKey");
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "WaitingFor" TEXT NULL;
GO
ALTER TABLE "{P}StepExecutions" ADD COLUMN "WaitUntil" TEXT NULL;
GO
ALTER TABLE "{P}Workflows" ADD COLUMN "TraceParent" TEXT NULL;

-- @migration 8
-- @heavy builds an index on Workflows
-- The dashboard lists one state newest first: an index on the state alone is ordered by rowid (the Id) within it.
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_State_Id" ON "{P}Workflows" ("State", "Id");

-- @migration 9
-- Operation ids of write commands: each command writes one row in its own transaction, so a repeat of the transaction
-- after a lost commit acknowledgement finds it and returns the first attempt's result. Rows are deleted after a day.
CREATE TABLE IF NOT EXISTS "{P}Operations" (
    "OperationId" TEXT NOT NULL PRIMARY KEY,
    "WorkflowId" INTEGER NOT NULL,
    "Command" TEXT NOT NULL,
    "Outcome" TEXT NULL,
    "ExecutionId" INTEGER NULL,
    "EndedExecutionId" INTEGER NULL,
    "EventId" INTEGER NULL,
    "CreatedAt" TEXT NOT NULL
);
GO
CREATE INDEX IF NOT EXISTS "IX_{P}Operations_CreatedAt" ON "{P}Operations" ("CreatedAt");

-- @migration 10
-- Child workflows: the workflow and the step that started a child (its group), and the small result a workflow records
-- for its parent to read. Top-level workflows leave them NULL.
ALTER TABLE "{P}Workflows" ADD COLUMN "ParentWorkflowId" INTEGER NULL;
GO
ALTER TABLE "{P}Workflows" ADD COLUMN "ParentStepName" TEXT NULL;
GO
ALTER TABLE "{P}Workflows" ADD COLUMN "Result" TEXT NULL;

-- @migration 11
-- @heavy builds three indexes on Workflows (they hold child workflows only)
-- A parent's children by group and state (the wait's counts, the dashboard's progress), by id (the dashboard's list of a
-- parent's children, newest first), and one child per hero and group: a step that starts children again after a crash
-- finds the ones it started instead of starting them twice.
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_Parent_State" ON "{P}Workflows" ("ParentWorkflowId", "ParentStepName", "State")
    WHERE "ParentWorkflowId" IS NOT NULL;
GO
CREATE UNIQUE INDEX IF NOT EXISTS "UX_{P}Workflows_Child" ON "{P}Workflows" ("ParentWorkflowId", "ParentStepName", "HeroType", "HeroId")
    WHERE "ParentWorkflowId" IS NOT NULL;
GO
CREATE INDEX IF NOT EXISTS "IX_{P}Workflows_Parent_Id" ON "{P}Workflows" ("ParentWorkflowId", "Id")
    WHERE "ParentWorkflowId" IS NOT NULL;
