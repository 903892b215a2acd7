using GenevaDrive.Execution;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Testing;

/// <summary>Thrown by <see cref="StorageConformance.RunAsync"/> when a storage breaks the contract; lists every failed check.</summary>
public sealed class StorageConformanceException : GenevaDriveException
{
    internal StorageConformanceException(string storage, IReadOnlyList<string> failures)
        : base($"The {storage} storage failed {failures.Count} conformance check(s):{Environment.NewLine}- " + string.Join(Environment.NewLine + "- ", failures))
    {
        Failures = failures;
    }

    /// <summary>Each failed check: its name and what went wrong.</summary>
    public IReadOnlyList<string> Failures { get; }
}

/// <summary>
/// The conformance suite of the storage contract: runs GenevaDrive's own transactions (start, claim, heartbeat,
/// finalize, takeover, checkpoints, events, control, reconciler and dashboard queries, cleanup) against a
/// <see cref="SqlDialect"/> on a real, empty database, and checks every result. A third-party storage package
/// calls it from its own tests, with any test framework; the built-in storages pass it. It lives in the core package
/// (it runs the core's own transactions), in the namespace of the test helpers.
/// </summary>
public static class StorageConformance
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    /// <summary>Runs every check against <paramref name="dialect"/> (which must point at an empty database or schema).</summary>
    /// <param name="dialect">The storage under test; the caller owns and disposes it.</param>
    /// <param name="cancellationToken">Cancels the run.</param>
    /// <returns>The names of the checks that passed (all of them).</returns>
    /// <exception cref="StorageConformanceException">At least one check failed; the message lists each failure.</exception>
    public static async Task<IReadOnlyList<string>> RunAsync(SqlDialect dialect, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        var clock = new ManualClock(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var store = new WorkflowStore(dialect, clock);
        var passed = new List<string>();
        var failures = new List<string>();

        async Task Check(string name, Func<Task> check)
        {
            try
            {
                await check().ConfigureAwait(false);
                passed.Add(name);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }

        await Check("the schema installs, and installing it again changes nothing", async () =>
        {
            await dialect.InstallSchemaAsync(cancellationToken).ConfigureAwait(false);
            await dialect.InstallSchemaAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        if (failures.Count > 0)
        {
            throw new StorageConformanceException(dialect.Name, failures);
        }

        await Check("a start writes a ready workflow and its first scheduled step, and a second ongoing one for the hero is refused", async () =>
        {
            var created = await store.CreateAsync(Spec("hero-1"), cancellationToken).ConfigureAwait(false);
            var execution = await store.GetCurrentExecutionAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(created.Workflow.Id > 0, "the workflow has an id");
            Expect(execution is { State: "scheduled", StepName: "first", Attempt: 1 }, "the first step is scheduled as attempt 1");
            try
            {
                await store.CreateAsync(Spec("hero-1"), cancellationToken).ConfigureAwait(false);
                Expect(false, "a second ongoing workflow for the same hero is refused (a unique index and IsUniqueViolation)");
            }
            catch (WorkflowAlreadyExistsException e)
            {
                Expect(e.ExistingWorkflowId == created.Workflow.Id, "the refusal names the ongoing workflow");
            }
        }).ConfigureAwait(false);

        await Check("the database clock reads UTC, and leases dated by it hold and expire as they should", async () =>
        {
            var onDatabaseClock = new WorkflowStore(dialect, TimeProvider.System, leasesOnDatabaseClock: true);
            await using (var connection = dialect.CreateConnection())
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using var command = connection.CreateCommand();
                command.CommandText = dialect.Sql.SelectDatabaseNow.Text;
                var read = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                var databaseNow = Convert.ToDateTime(read, System.Globalization.CultureInfo.InvariantCulture);
                var skew = (databaseNow - DateTime.UtcNow).Duration();
                Expect(skew < TimeSpan.FromMinutes(10),
                    $"SelectDatabaseNow returns the database's UTC time (it returned {databaseNow:O}, {skew.TotalMinutes:0} minutes from this machine's UTC: local time?)");
            }

            var created = await onDatabaseClock.CreateAsync(Spec("hero-clock"), cancellationToken).ConfigureAwait(false);
            // Hinted as a step job's claim is: the one-round-trip claim dates the lease with the flavor's LeaseExpiry, where it has one.
            var claim = await onDatabaseClock.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, cancellationToken, created.Workflow.Id).ConfigureAwait(false);
            Expect(claim.IsClaimed, $"a claim dated by the database clock succeeds ({claim.Reason})");
            Expect((await onDatabaseClock.ClaimAsync(created.FirstExecution.Id, "job-2", Lease, cancellationToken).ConfigureAwait(false)).Outcome == ClaimOutcome.LeaseHeld,
                "its lease holds against a second claim");
            Expect(await onDatabaseClock.HeartbeatAsync(claim.Execution!.Id, created.Workflow.Id, claim.Execution.LeaseToken!, Lease, cancellationToken).ConfigureAwait(false) is null,
                "a heartbeat dated by the database clock renews it");
            Expect((await onDatabaseClock.GetExpiredLeasesAsync(10, cancellationToken).ConfigureAwait(false)).All(e => e.Id != claim.Execution.Id),
                "the reconciler does not see it as expired");
            await onDatabaseClock.CancelAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);

        await Check("a claim takes the lease once; heartbeat, checkpoint and finalize work under it; the next step is scheduled", async () =>
        {
            var created = await store.CreateAsync(Spec("hero-2"), cancellationToken).ConfigureAwait(false);
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, cancellationToken).ConfigureAwait(false);
            Expect(claim.Outcome == ClaimOutcome.Claimed, $"the claim succeeds ({claim.Reason})");
            var second = await store.ClaimAsync(created.FirstExecution.Id, "job-2", Lease, cancellationToken).ConfigureAwait(false);
            Expect(second.Outcome == ClaimOutcome.LeaseHeld, "a second claim under the live lease is refused");
            var token = claim.Execution!.LeaseToken!;
            Expect(await store.HeartbeatAsync(claim.Execution.Id, created.Workflow.Id, token, Lease, cancellationToken).ConfigureAwait(false) is null,
                "the heartbeat renews the lease");
            Expect(await store.CheckpointAsync(claim.Execution.Id, token, "7", cancellationToken).ConfigureAwait(false), "a checkpoint under the lease is saved");
            var result = await store.FinalizeAsync(claim.Execution.Id, token, new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Success,
                WorkflowState = WorkflowState.Ready,
                NextStepName = "second",
                Schedule = new NextStep("second", TimeSpan.FromHours(1)),
            }, cancellationToken).ConfigureAwait(false);
            Expect(result.Outcome == FinalizeOutcome.Applied, "finalize applies");
            Expect(result.NextExecution is { StepName: "second", State: "scheduled" }, "the next step is scheduled");
            var history = await store.GetHistoryAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(history.Count == 2 && history[0].Cursor == "7" && history[0].Checkpoints == 1 && history[0].Outcome == "success",
                "the history keeps the first step's outcome, cursor and checkpoint count");
            Expect(history[1].ScheduledFor == UtcTimes.Now(clock) + TimeSpan.FromHours(1), "times round-trip to the millisecond in UTC");
        }).ConfigureAwait(false);

        await Check("a step job's claim and finalize (the one-round-trip forms, where the storage has them) write what the careful ones write", async () =>
        {
            // The job's arguments name the workflow and the step: the store then uses ClaimReadyStepExecution and
            // FinishPerformingStepExecution when the storage builds them, and falls back when the rows are not as required.
            var created = await store.CreateAsync(Spec("hero-2b"), cancellationToken).ConfigureAwait(false);
            var workflowId = created.Workflow.Id;
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, cancellationToken, workflowId).ConfigureAwait(false);
            Expect(claim.Outcome == ClaimOutcome.Claimed && claim.Execution!.LeaseExpiresAt == UtcTimes.Now(clock) + Lease,
                $"the hinted claim takes the lease ({claim.Reason})");
            Expect((await store.GetWorkflowAsync(workflowId, cancellationToken).ConfigureAwait(false))?.State == "performing", "its workflow performs the step");
            var result = await store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Success,
                WorkflowState = WorkflowState.Ready,
                NextStepName = "second",
                Schedule = new NextStep("second", TimeSpan.FromMinutes(5)),
            }, cancellationToken, workflowId, stepNameHint: "first").ConfigureAwait(false);
            var history = await store.GetHistoryAsync(workflowId, cancellationToken).ConfigureAwait(false);
            Expect(result.Outcome == FinalizeOutcome.Applied && result.NextExecution?.Id == history[^1].Id, "the hinted finalize applies and returns the next execution");
            Expect(history.Count == 2 && history[0] is { State: "completed", Outcome: "success", LeaseExpiresAt: null } &&
                   history[1] is { StepName: "second", State: "scheduled", Attempt: 1 } && history[1].ScheduledFor == UtcTimes.Now(clock) + TimeSpan.FromMinutes(5),
                "the step is closed and the next one scheduled");
            Expect((await store.GetWorkflowAsync(workflowId, cancellationToken).ConfigureAwait(false)) is { State: "ready", NextStepName: "second", CurrentStepName: null },
                "the workflow moved on");
            var next = await store.ClaimAsync(history[1].Id, "job-2", Lease, cancellationToken, workflowId).ConfigureAwait(false);
            clock.Advance(Lease + TimeSpan.FromSeconds(1));
            var takeover = await store.ClaimAsync(history[1].Id, "job-3", Lease, cancellationToken, workflowId).ConfigureAwait(false);
            var stale = await store.FinalizeAsync(next.Execution!.Id, next.Execution.LeaseToken!, new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Success,
                WorkflowState = WorkflowState.Finished,
            }, cancellationToken, workflowId, stepNameHint: "second").ConfigureAwait(false);
            Expect(takeover.Outcome == ClaimOutcome.TookOver && stale.Outcome == FinalizeOutcome.LeaseLost,
                "after a takeover the stale hinted finalize records nothing");
            await store.CancelAsync(workflowId, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);

        await Check("an expired lease is taken over, and the stale run's checkpoint and finalize are refused", async () =>
        {
            var created = await store.CreateAsync(Spec("hero-3"), cancellationToken).ConfigureAwait(false);
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, cancellationToken).ConfigureAwait(false);
            await store.CheckpointAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, "3", cancellationToken).ConfigureAwait(false);
            clock.Advance(Lease + TimeSpan.FromSeconds(1));
            var expired = await store.GetExpiredLeasesAsync(100, cancellationToken).ConfigureAwait(false);
            Expect(expired.Any(e => e.Id == claim.Execution.Id), "the reconciler's query finds the expired lease");
            var takeover = await store.ClaimAsync(claim.Execution.Id, "job-2", Lease, cancellationToken).ConfigureAwait(false);
            Expect(takeover.Outcome == ClaimOutcome.TookOver && takeover.Execution!.Cursor == "3", "the takeover starts from the saved cursor");
            Expect(!await store.CheckpointAsync(claim.Execution.Id, claim.Execution.LeaseToken!, "4", cancellationToken).ConfigureAwait(false),
                "the stale checkpoint is refused");
            var stale = await store.FinalizeAsync(claim.Execution.Id, claim.Execution.LeaseToken!, new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Success,
                WorkflowState = WorkflowState.Finished,
            }, cancellationToken).ConfigureAwait(false);
            Expect(stale.Outcome == FinalizeOutcome.LeaseLost, "the stale finalize records nothing");
        }).ConfigureAwait(false);

        await Check("events are kept, deduplicated, wake a waiting step and are consumed once", async () =>
        {
            var created = await store.CreateAsync(Spec("hero-4") with
            {
                FirstStepWait = TimeSpan.FromDays(1),
                FirstStepGate = new WaitGate("go", TimeSpan.FromDays(1), WaitTimeout.Cancel),
            }, cancellationToken).ConfigureAwait(false);
            Expect(created.FirstExecution is { WaitingFor: "go" }, "the first step waits for its event");
            var delivered = await store.DeliverEventAsync(created.Workflow.Id, "go", "k-1", "\"x\"", null, cancellationToken).ConfigureAwait(false);
            var duplicate = await store.DeliverEventAsync(created.Workflow.Id, "go", "k-1", "\"y\"", null, cancellationToken).ConfigureAwait(false);
            Expect(delivered.Outcome == EventDeliveryOutcome.Delivered && delivered.WokenExecution!.ScheduledFor <= UtcTimes.Now(clock),
                "the event moves the waiting step to now");
            Expect(duplicate.Outcome == EventDeliveryOutcome.Duplicate, "the same event id again is a duplicate");
            var unconsumed = await store.GetUnconsumedEventAsync(created.Workflow.Id, "go", cancellationToken).ConfigureAwait(false);
            var claim = await store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, cancellationToken).ConfigureAwait(false);
            await store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, new StepCompletion
            {
                ExecutionState = StepExecutionState.Completed,
                Outcome = StepOutcome.Success,
                WorkflowState = WorkflowState.Finished,
                ConsumeEventId = unconsumed!.Id,
            }, cancellationToken).ConfigureAwait(false);
            var events = await store.GetEventsAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(events.Count == 1 && events[0].ConsumedByExecutionId == claim.Execution.Id && events[0].Payload == "\"x\"",
                "one event, consumed by the step that took it");
            Expect((await store.GetLatestConsumedEventAsync(created.Workflow.Id, "go", cancellationToken).ConfigureAwait(false))?.Id == events[0].Id,
                "the consumed event is found for ReceivedEventAsync");
        }).ConfigureAwait(false);

        await Check("pause, resume, skip and cancel keep the state machines", async () =>
        {
            var created = await store.CreateAsync(Spec("hero-5"), cancellationToken).ConfigureAwait(false);
            var paused = await store.PauseAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(paused.Workflow.State == "paused", "paused");
            var resumed = await store.ResumeAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(resumed.Workflow.State == "ready" && resumed.Execution?.Id == created.FirstExecution!.Id, "resumed with the kept step");
            var skipped = await store.SkipAsync(created.Workflow.Id, _ => new NextStep("second", TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
            Expect(skipped.Execution is { StepName: "second" }, "skipped to the next step");
            var canceled = await store.CancelAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(canceled.Workflow.State == "canceled", "canceled");
            try
            {
                await store.ResumeAsync(created.Workflow.Id, cancellationToken).ConfigureAwait(false);
                Expect(false, "resuming a canceled workflow is refused");
            }
            catch (InvalidWorkflowStateException)
            {
            }
        }).ConfigureAwait(false);

        await Check("the reconciler's and the dashboard's queries answer", async () =>
        {
            var due = await store.GetDueScheduledAsync(UtcTimes.Now(clock) + TimeSpan.FromDays(2), 100, cancellationToken).ConfigureAwait(false);
            Expect(due.Count > 0, "due scheduled steps of ready workflows are found");
            var page = await store.GetPageAsync(null, null, 0, 2, cancellationToken).ConfigureAwait(false);
            Expect(page.Items.Count == 2 && page.Total >= 5 && page.Items[0].Id > page.Items[1].Id, "a page of workflows, newest first, with the total");
            var byState = await store.CountByStateAsync(cancellationToken).ConfigureAwait(false);
            Expect(byState.Values.Sum() == page.Total, "counts by state add up to the total");
            Expect(await store.CountInStateAsync(WorkflowState.Canceled, cancellationToken).ConfigureAwait(false) == byState[WorkflowState.Canceled],
                "one state's count matches");
            Expect((await store.GetByHeroAsync("ConformanceHero", "hero-5", cancellationToken).ConfigureAwait(false)).Count == 1, "workflows are found by hero");
            Expect(await store.RenameHeroTypeAsync("NoSuchHero", "Other", cancellationToken).ConfigureAwait(false) == 0, "renaming an unused hero type moves nothing");
            var inFlight = await store.CountInFlightByStepAsync(cancellationToken).ConfigureAwait(false);
            var atFirst = inFlight.Where(r => r.Type == "conformance" && r.StepName == "first").Sum(r => r.Count);
            Expect(atFirst > 0 && inFlight.All(r => r.State is WorkflowState.Ready or WorkflowState.Performing or WorkflowState.Paused),
                "the drift report counts in-flight workflows by type, step and state");
            var atStep = await store.GetInFlightAtStepAsync("conformance", "first", 0, 100, cancellationToken).ConfigureAwait(false);
            Expect(atStep.Count == atFirst && atStep.All(w => (w.CurrentStepName ?? w.NextStepName) == "first"),
                "the workflows in flight at a step are listed");
        }).ConfigureAwait(false);

        await Check("children start once per hero, are counted by state, and the one that decides a parent's wait wakes it once", async () =>
        {
            var parent = await store.CreateAsync(Spec("hero-6"), cancellationToken).ConfigureAwait(false);
            var children = new[] { Spec("child-1"), Spec("child-2") with { Type = "conformance_child" } };
            var first = await store.StartChildrenAsync(parent.Workflow.Id, "fan", children, cancellationToken).ConfigureAwait(false);
            var again = await store.StartChildrenAsync(parent.Workflow.Id, "fan", children, cancellationToken).ConfigureAwait(false);
            var started = await store.GetChildrenPageAsync(parent.Workflow.Id, 0, 10, cancellationToken).ConfigureAwait(false);
            Expect(first.Count == 2 && started.Count == 2 && first.All(c => c.Workflow.ParentWorkflowId == parent.Workflow.Id) &&
                   again.All(c => first.Any(f => f.Workflow.Id == c.Workflow.Id)),
                "a repeated batch starts no second child for a hero (it hands back the undispatched ones it finds)");
            var gate = new ChildrenGate("fan", ChildrenWait.All, ChildTrouble.Ignore, ChildTrouble.Ignore);
            var armed = await store.SkipAsync(parent.Workflow.Id, _ => new NextStep("wait", TimeSpan.FromDays(1),
                new WaitGate(gate.EventName, TimeSpan.FromDays(1), WaitTimeout.Pause, Children: gate)), cancellationToken).ConfigureAwait(false);
            Expect(armed.Execution is { WaitingFor: "children:fan" } waiting && waiting.ScheduledFor > UtcTimes.Now(clock),
                "a wait for ongoing children is armed for its timeout");
            var one = await store.CancelAsync(first[0].Workflow.Id, cancellationToken).ConfigureAwait(false);
            var last = await store.CancelAsync(first[1].Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(one.WokenParent is null && last.WokenParent?.Execution.Id == armed.Execution!.Id &&
                   last.WokenParent.Execution.ScheduledFor <= UtcTimes.Now(clock), "only the last child to end wakes the parent");
            var counts = await store.CountChildrenAsync(parent.Workflow.Id, "fan", cancellationToken).ConfigureAwait(false);
            Expect(counts is { Canceled: 2, Ongoing: 0 }, "children are counted by state");
            var events = await store.GetEventsAsync(parent.Workflow.Id, cancellationToken).ConfigureAwait(false);
            Expect(events.Count(e => e.Name == "children:fan") == 1, "one wake-up event");
            Expect((await store.GetChildOutcomesAsync(parent.Workflow.Id, "fan", cancellationToken).ConfigureAwait(false)).Count == 2 &&
                   (await store.GetChildrenPageAsync(parent.Workflow.Id, 0, 10, cancellationToken).ConfigureAwait(false)).Count == 2,
                "the parent's children are listed");
        }).ConfigureAwait(false);

        await Check("cleanup deletes ended workflows with their steps and events, after their retention only", async () =>
        {
            clock.Advance(TimeSpan.FromDays(10));
            var batch = await store.DeleteEndedWorkflowsBatchAsync(UtcTimes.Now(clock) - TimeSpan.FromDays(1), 100, cancellationToken).ConfigureAwait(false);
            Expect(batch.WorkflowsDeleted >= 2, "the ended workflows are deleted");
            var again = await store.DeleteEndedWorkflowsBatchAsync(UtcTimes.Now(clock) - TimeSpan.FromDays(1), 100, cancellationToken).ConfigureAwait(false);
            Expect(again.WorkflowsDeleted == 0, "nothing is left to delete");
            var ongoing = await store.GetByHeroAsync("ConformanceHero", "hero-1", cancellationToken).ConfigureAwait(false);
            Expect(ongoing.Count == 1, "ongoing workflows are kept");
        }).ConfigureAwait(false);

        if (failures.Count > 0)
        {
            throw new StorageConformanceException(dialect.Name, failures);
        }

        return passed;
    }

    private static NewWorkflow Spec(string heroId) => new("conformance", "ConformanceHero", heroId, false, "first", null);

    private static void Expect(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("expected: " + what);
        }
    }
}
