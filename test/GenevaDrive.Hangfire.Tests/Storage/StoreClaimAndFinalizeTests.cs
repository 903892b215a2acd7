using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

public sealed class StoreClaimAndFinalizeTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task Claim_MovesBothRowsAndTakesALease()
    {
        var (created, claim) = await StartAndClaimAsync();

        var workflow = await WorkflowAsync(created.Workflow.Id);
        var execution = await ExecutionAsync(created.FirstExecution!.Id);
        Assert.Multiple(() =>
        {
            Assert.That(claim.Execution!.Id, Is.EqualTo(execution.Id));
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That(workflow.CurrentStepName, Is.EqualTo("first"));
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.InProgress));
            Assert.That(execution.StartedAt, Is.EqualTo(Now));
            Assert.That(execution.JobId, Is.EqualTo("job-1"));
            Assert.That(execution.LeaseToken, Is.EqualTo(claim.Execution.LeaseToken).And.Not.Null);
            Assert.That(execution.LeaseExpiresAt, Is.EqualTo(Now + Lease));
        });
    }

    [Test]
    public async Task SecondClaim_UnderALiveLease_IsRefusedWithAReason()
    {
        var (created, _) = await StartAndClaimAsync();
        Clock.Advance(TimeSpan.FromMinutes(4));

        var second = await Store.ClaimAsync(created.FirstExecution!.Id, "job-2", Lease);

        Assert.Multiple(async () =>
        {
            Assert.That(second.Outcome, Is.EqualTo(ClaimOutcome.LeaseHeld));
            Assert.That(second.Reason, Does.Contain("live lease").And.Contain("job-1"));
            Assert.That((await ExecutionAsync(created.FirstExecution.Id)).JobId, Is.EqualTo("job-1"));
        });
    }

    [Test]
    public async Task Claim_OfAnEndedExecution_RunsNothing()
    {
        var (created, claim) = await StartAndClaimAsync();
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success(null));

        var again = await Store.ClaimAsync(created.FirstExecution!.Id, "job-2", Lease);

        Assert.Multiple(() =>
        {
            Assert.That(again.Outcome, Is.EqualTo(ClaimOutcome.AlreadyEnded));
            Assert.That(again.Reason, Is.EqualTo($"Step execution {created.FirstExecution.Id} already completed; nothing to run."));
        });
    }

    [Test]
    public async Task Claim_OfAMissingRow_IsNotFound()
    {
        var claim = await Store.ClaimAsync(987654, "job-1", Lease);

        Assert.Multiple(() =>
        {
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.NotFound));
            Assert.That(claim.Reason, Does.Contain("987654"));
        });
    }

    [Test]
    public async Task Claim_WhenTheWorkflowIsPausedFromCode_RunsNothing_AndKeepsTheExecutionForResume()
    {
        var created = await StartAsync();
        await Store.PauseAsync(created.Workflow.Id);

        var claim = await Store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease);

        var execution = await ExecutionAsync(created.FirstExecution.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.WorkflowNotRunnable));
            Assert.That(claim.Reason, Does.Contain("is paused"));
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.Scheduled), "Resume runs it");
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Paused));
        });
    }

    [Test]
    public async Task ForABlockingCaller_ClaimFinalizeAndTheJobId_NeverNeedTheBlockedThreadBack()
    {
        // The step job filter blocks a Hangfire worker on these calls. Under a synchronization context that runs its posts
        // only on the blocked thread, any continuation that captured the context would wait for that thread forever.
        var created = await StartAsync("blocking");
        var outcome = await Task.Factory.StartNew(() =>
        {
            var context = new BlockedThreadContext();
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                var claimed = Blocked(Store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: created.Workflow.Id));
                var finalize = claimed is null
                    ? null
                    : Blocked(Store.FinalizeAsync(claimed.Execution!.Id, claimed.Execution.LeaseToken!, Success("second"),
                        workflowIdHint: created.Workflow.Id));
                var recorded = finalize is not null && Blocked(Store.SetJobIdAsync(finalize.NextExecution!.Id, "job-2"));
                return (claimed, finalize, recorded, context.Posts);
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(null);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        Assert.Multiple(async () =>
        {
            Assert.That(outcome.claimed?.Outcome, Is.EqualTo(ClaimOutcome.Claimed), "the claim finished while its caller was blocked");
            Assert.That(outcome.finalize?.Outcome, Is.EqualTo(FinalizeOutcome.Applied), "the finalize finished while its caller was blocked");
            Assert.That(outcome.recorded, Is.True, "the job id was recorded while its caller was blocked");
            Assert.That(outcome.Posts, Is.Zero, "no continuation was posted to the caller's context");
            Assert.That((await ExecutionAsync(outcome.finalize!.NextExecution!.Id)).JobId, Is.EqualTo("job-2"));
        });
    }

    [Test]
    public async Task InBlockingMode_EveryClaimAndFinalizePath_HasCompletedWhenItReturns()
    {
        // The step job filter passes StoreIo.Blocking: every database call of the claim and the finalize must then block,
        // so the task has completed when it is returned. On PostgreSQL one asynchronous call left on a path (its read
        // still pending on the socket) leaves the task running, and the path is named below.
        var onDatabaseClock = new WorkflowStore(Db.Dialect, Clock, leasesOnDatabaseClock: true);
        var created = await StartAsync("blocking-io");
        var pending = new List<string>();
        T Returned<T>(Task<T> task, string path)
        {
            if (!task.IsCompleted)
            {
                pending.Add(path);
            }

            return task.GetAwaiter().GetResult();
        }

        var workflowId = created.Workflow.Id;
        var hinted = Returned(onDatabaseClock.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: workflowId, io: StoreIo.Blocking),
            "claim with a hint, on the database clock");
        var scheduled = Returned(onDatabaseClock.FinalizeAsync(hinted.Execution!.Id, hinted.Execution.LeaseToken!, Success("second"),
            workflowIdHint: workflowId, io: StoreIo.Blocking), "finalize that schedules the next step");
        var nextId = scheduled.NextExecution!.Id;
        var claimed = Returned(Store.ClaimAsync(nextId, "job-2", Lease, io: StoreIo.Blocking), "claim without a hint");
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var takeover = Returned(Store.ClaimAsync(nextId, "job-3", Lease, io: StoreIo.Blocking), "takeover of an expired lease");
        var failed = Returned(Store.FinalizeAsync(takeover.Execution!.Id, takeover.Execution.LeaseToken!, FailedAndPaused("second"), io: StoreIo.Blocking),
            "finalize that fails and pauses");
        var retried = Returned(Store.ClaimAsync(takeover.Execution.Id, "job-3", Lease, io: StoreIo.Blocking), "claim of a failed step requeued");
        var finished = Returned(Store.FinalizeAsync(retried.Execution!.Id, retried.Execution.LeaseToken!, Success(null), io: StoreIo.Blocking),
            "finalize that finishes the workflow");

        Assert.Multiple(async () =>
        {
            Assert.That(pending, Is.Empty, "paths whose task was still running when it was returned");
            Assert.That(new[] { hinted.Outcome, claimed.Outcome, takeover.Outcome, retried.Outcome },
                Is.EqualTo(new[] { ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.TookOver, ClaimOutcome.Retried }));
            Assert.That(new[] { scheduled.Outcome, failed.Outcome, finished.Outcome }, Is.All.EqualTo(FinalizeOutcome.Applied));
            Assert.That((await WorkflowAsync(workflowId)).WorkflowState, Is.EqualTo(WorkflowState.Finished));
        });
    }

    /// <summary>Blocks on the task as the filter does, for at most 30 s (a captured context would hang it): its result, or default.</summary>
    private static T? Blocked<T>(Task<T> task) => task.Wait(TimeSpan.FromSeconds(30)) ? task.Result : default;

    /// <summary>
    /// A context like a UI thread's whose thread is blocked: what is posted to it is counted (and run on the pool, so a
    /// failing test fails instead of hanging).
    /// </summary>
    private sealed class BlockedThreadContext : SynchronizationContext
    {
        private int _posts;

        public int Posts => Volatile.Read(ref _posts);

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            ThreadPool.UnsafeQueueUserWorkItem(_ => d(state), null);
        }

        public override void Send(SendOrPostCallback d, object? state) => Post(d, state);
    }

    [Test]
    public async Task Claim_WithAWrongWorkflowHint_FallsBackAndClaimsTheRightRows()
    {
        var other = await StartAsync("other-hero");
        var created = await StartAsync("hinted");

        var claim = await Store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease, workflowIdHint: other.Workflow.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
            Assert.That(claim.Workflow!.Id, Is.EqualTo(created.Workflow.Id));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That((await WorkflowAsync(other.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Ready), "the wrongly hinted workflow is untouched");
        });
    }

    [Test]
    public async Task Claim_ByTheDeletedJobThatPausedTheWorkflow_ResumesAndRuns()
    {
        // The operator deleted the step's job (which paused the workflow), then requeued it: "run it now".
        var created = await StartAsync();
        await Store.SetJobIdAsync(created.FirstExecution!.Id, "job-deleted");
        await Store.PauseAsync(created.Workflow.Id, pausedByJobId: "job-deleted");

        var stale = await Store.ClaimAsync(created.FirstExecution.Id, "some-other-job", Lease);
        var requeued = await Store.ClaimAsync(created.FirstExecution.Id, "job-deleted", Lease);

        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(stale.Outcome, Is.EqualTo(ClaimOutcome.WorkflowNotRunnable), "a late duplicate never undoes the pause");
            Assert.That(stale.Reason, Does.Contain("paused by job job-deleted"));
            Assert.That(requeued.Outcome, Is.EqualTo(ClaimOutcome.Retried), requeued.Reason);
            Assert.That(requeued.Execution!.Id, Is.EqualTo(created.FirstExecution.Id));
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That(workflow.PausedByJobId, Is.Null);
        });
    }

    [Test]
    public async Task Claim_OfAFailedStep_RetriesOnlyForTheJobWhoseFailurePausedTheWorkflow()
    {
        var (created, claim) = await StartAndClaimAsync();
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, new StepCompletion
        {
            ExecutionState = StepExecutionState.Failed, Outcome = StepOutcome.Failed, WorkflowState = WorkflowState.Paused,
            NextStepName = "first", ErrorClassName = "System.TimeoutException", ErrorMessage = "boom",
        });

        var other = await Store.ClaimAsync(claim.Execution.Id, "a-stale-duplicate", Lease);
        var retry = await Store.ClaimAsync(claim.Execution.Id, "job-1", Lease);

        Assert.Multiple(() =>
        {
            Assert.That(other.Outcome, Is.EqualTo(ClaimOutcome.AlreadyEnded), other.Reason);
            Assert.That(other.Reason, Does.Contain("paused by job job-1"));
            Assert.That(retry.Outcome, Is.EqualTo(ClaimOutcome.Retried), retry.Reason);
        });
    }

    [Test]
    public async Task Interruption_ClosesTheAttempt_AndHandsTheStepBackToTheSameJob()
    {
        var (created, claim) = await StartAndClaimAsync();

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!,
            GenevaDrive.Execution.StepExecutor.Interrupted("first", "server stopping").Completion with { HandOverToJobId = "job-1" });
        var elsewhere = await Store.ClaimAsync(claim.Execution.Id, "job-other", Lease);
        var redelivered = await Store.ClaimAsync(claim.Execution.Id, "job-1", Lease);

        var interrupted = await ExecutionAsync(claim.Execution.Id);
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(interrupted.StepOutcome, Is.EqualTo(StepOutcome.Interrupted));
            Assert.That(interrupted.LeaseExpiresAt, Is.Null, "the lease is released at once");
            Assert.That(result.NextExecution!.JobId, Is.EqualTo("job-1"), "the same job runs the new attempt when Hangfire redelivers it");
            Assert.That(elsewhere.IsClaimed, Is.False, elsewhere.Reason);
            Assert.That(redelivered.Outcome, Is.EqualTo(ClaimOutcome.Claimed), redelivered.Reason);
            Assert.That(redelivered.Execution!.Id, Is.EqualTo(result.NextExecution.Id));
            Assert.That(redelivered.Execution.StepName, Is.EqualTo("first"));
        });
    }

    [Test]
    public async Task ExpiredLease_IsTakenOver_AndTheOldAttemptClosedAsRecovered()
    {
        var (created, first) = await StartAndClaimAsync();
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));

        var takeover = await Store.ClaimAsync(created.FirstExecution!.Id, "job-2", Lease);

        var old = await ExecutionAsync(first.Execution!.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(takeover.Outcome, Is.EqualTo(ClaimOutcome.TookOver), takeover.Reason);
            Assert.That(takeover.ReplacedExecutionId, Is.EqualTo(old.Id));
            Assert.That(takeover.Execution!.Id, Is.Not.EqualTo(old.Id));
            Assert.That(takeover.Execution.ExecutionState, Is.EqualTo(StepExecutionState.InProgress));
            Assert.That(takeover.Execution.JobId, Is.EqualTo("job-2"));
            Assert.That(old.ExecutionState, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(old.StepOutcome, Is.EqualTo(StepOutcome.Recovered));
            Assert.That(old.ErrorMessage, Does.Contain("stopped renewing its lease"));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Performing));
        });
    }

    [Test]
    public async Task Heartbeat_KeepsTheLeaseAlive_PastItsOriginalExpiry()
    {
        var (created, claim) = await StartAndClaimAsync();
        for (var i = 0; i < 30; i++)
        {
            Clock.Advance(TimeSpan.FromMinutes(1));
            Assert.That(await Store.HeartbeatAsync(claim.Execution!.Id, created.Workflow.Id, claim.Execution.LeaseToken!, Lease), Is.Null);
        }

        var other = await Store.ClaimAsync(created.FirstExecution!.Id, "job-2", Lease);

        Assert.That(other.Outcome, Is.EqualTo(ClaimOutcome.LeaseHeld), "30 minutes in, a heartbeating step is still not taken over");
    }

    [Test]
    public async Task Heartbeat_WithAStaleToken_ReportsTheLeaseLost()
    {
        var (created, claim) = await StartAndClaimAsync();

        Assert.That((await Store.HeartbeatAsync(claim.Execution!.Id, created.Workflow.Id, "not-my-token", Lease))?.Text, Does.Contain("lost its lease"));
    }

    [Test]
    public async Task Finalize_Success_SchedulesTheNextStepAfterItsWait()
    {
        var (created, claim) = await StartAndClaimAsync();
        Clock.Advance(TimeSpan.FromSeconds(3));

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second", TimeSpan.FromHours(1)));

        var workflow = await WorkflowAsync(created.Workflow.Id);
        var done = await ExecutionAsync(claim.Execution.Id);
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(done.ExecutionState, Is.EqualTo(StepExecutionState.Completed));
            Assert.That(done.StepOutcome, Is.EqualTo(StepOutcome.Success));
            Assert.That(done.CompletedAt, Is.EqualTo(Now));
            Assert.That(done.FinishedAt, Is.EqualTo(Now));
            Assert.That(done.LeaseExpiresAt, Is.Null, "the lease ends with the attempt");
            Assert.That(done.LeaseToken, Is.EqualTo(claim.Execution!.LeaseToken), "kept so a repeated finalize recognises its own result");
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Ready));
            Assert.That(workflow.CurrentStepName, Is.Null);
            Assert.That(workflow.NextStepName, Is.EqualTo("second"));
            Assert.That(result.NextExecution!.StepName, Is.EqualTo("second"));
            Assert.That(result.NextExecution.ScheduledFor, Is.EqualTo(Now.AddHours(1)));
        });
    }

    [Test]
    public async Task Finalize_OfTheLastStep_FinishesTheWorkflow()
    {
        var (created, claim) = await StartAndClaimAsync();

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success(null));

        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(result.NextExecution, Is.Null);
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That(workflow.TransitionedAt, Is.EqualTo(Now));
            Assert.That(workflow.NextStepName, Is.Null);
            Assert.That(await Store.GetCurrentExecutionAsync(workflow.Id), Is.Null);
        });
    }

    [Test]
    public async Task Finalize_WithoutTheLease_WritesNothing()
    {
        var (created, claim) = await StartAndClaimAsync();

        var result = await Store.FinalizeAsync(claim.Execution!.Id, "someone-else", Success(null));

        Assert.Multiple(async () =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.LeaseLost));
            Assert.That((await ExecutionAsync(claim.Execution.Id)).ExecutionState, Is.EqualTo(StepExecutionState.InProgress));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Performing));
        });
    }

    [Test]
    public async Task StaleRun_CannotOverwriteTheResultOfTheRunThatTookOver()
    {
        var (created, stale) = await StartAndClaimAsync();
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        var takeover = await Store.ClaimAsync(created.FirstExecution!.Id, "job-2", Lease);
        await Store.FinalizeAsync(takeover.Execution!.Id, takeover.Execution.LeaseToken!, Success(null));

        var late = await Store.FinalizeAsync(stale.Execution!.Id, stale.Execution.LeaseToken!, FailedAndPaused("first"));

        Assert.Multiple(async () =>
        {
            Assert.That(late.Outcome, Is.EqualTo(FinalizeOutcome.LeaseLost));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Finished));
            Assert.That((await ExecutionAsync(stale.Execution.Id)).StepOutcome, Is.EqualTo(StepOutcome.Recovered));
        });
    }

    [Test]
    public async Task Finalize_AfterTheWorkflowWasChangedFromOutside_ClosesTheExecutionAsCanceled()
    {
        var (created, claim) = await StartAndClaimAsync();
        var workflow = await WorkflowAsync(created.Workflow.Id);
        workflow.State = "canceled";
        await OverwriteAsync(workflow);

        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Success("second"));

        Assert.Multiple(async () =>
        {
            Assert.That(result.Outcome, Is.EqualTo(FinalizeOutcome.WorkflowChangedOutside));
            Assert.That((await ExecutionAsync(claim.Execution.Id)).ExecutionState, Is.EqualTo(StepExecutionState.Canceled));
            Assert.That((await WorkflowAsync(created.Workflow.Id)).WorkflowState, Is.EqualTo(WorkflowState.Canceled));
            Assert.That(await Store.GetCurrentExecutionAsync(created.Workflow.Id), Is.Null);
        });
    }

    [Test]
    public async Task Failure_RecordsTheError_AndPausesOnTheStep()
    {
        var (created, claim) = await StartAndClaimAsync();

        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, FailedAndPaused("first"));

        var execution = await ExecutionAsync(claim.Execution.Id);
        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(() =>
        {
            Assert.That(execution.ExecutionState, Is.EqualTo(StepExecutionState.Failed));
            Assert.That(execution.StepOutcome, Is.EqualTo(StepOutcome.Failed));
            Assert.That(execution.FailedAt, Is.EqualTo(Now));
            Assert.That(execution.ErrorClassName, Is.EqualTo("System.TimeoutException"));
            Assert.That(execution.ErrorMessage, Is.EqualTo("The mail server did not answer."));
            Assert.That(execution.ErrorBacktrace, Is.EqualTo("at Mailer.Send()"));
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Paused));
            Assert.That(workflow.NextStepName, Is.EqualTo("first"));
            Assert.That(workflow.TransitionedAt, Is.EqualTo(Now));
        });
    }

    [Test]
    public async Task ClaimingTheFailedExecutionOfAWorkflowPausedOnIt_RetriesTheStep()
    {
        var (created, claim) = await StartAndClaimAsync();
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, FailedAndPaused("first"));

        var retry = await Store.ClaimAsync(claim.Execution.Id, "job-1", Lease);

        var workflow = await WorkflowAsync(created.Workflow.Id);
        Assert.Multiple(async () =>
        {
            Assert.That(retry.Outcome, Is.EqualTo(ClaimOutcome.Retried), retry.Reason);
            Assert.That(retry.ReplacedExecutionId, Is.EqualTo(claim.Execution.Id));
            Assert.That(retry.Execution!.StepName, Is.EqualTo("first"));
            Assert.That(retry.Execution.ExecutionState, Is.EqualTo(StepExecutionState.InProgress));
            Assert.That(workflow.WorkflowState, Is.EqualTo(WorkflowState.Performing));
            Assert.That(workflow.TransitionedAt, Is.Null);
            Assert.That(await Store.GetHistoryAsync(workflow.Id), Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task ClaimingAFailedExecution_AfterTheWorkflowMovedOn_RunsNothing()
    {
        var (created, claim) = await StartAndClaimAsync();
        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, FailedAndPaused("first"));
        await Store.ResumeAsync(created.Workflow.Id);

        var again = await Store.ClaimAsync(claim.Execution.Id, "job-1", Lease);

        Assert.Multiple(() =>
        {
            Assert.That(again.Outcome, Is.EqualTo(ClaimOutcome.AlreadyEnded));
            Assert.That(again.Reason, Does.Contain("already failed").And.Contain("moved on"));
        });
    }

    [Test]
    public async Task ExceptionReattempts_AreCountedSinceTheLastSuccess_FlowControlNever()
    {
        var (created, claim) = await StartAndClaimAsync();
        var execution = claim.Execution!;
        foreach (var reason in new[] { ReattemptReasons.ExceptionPolicy, ReattemptReasons.FlowControl, ReattemptReasons.Precondition })
        {
            var result = await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, Reattempted("first", reason));
            execution = (await Store.ClaimAsync(result.NextExecution!.Id, "job", Lease)).Execution!;
        }

        var beforeSuccess = await Store.CountExceptionReattemptsAsync(created.Workflow.Id, "first");
        var afterSuccess = await Store.FinalizeAsync(execution.Id, execution.LeaseToken!, Success("first"));
        var reset = await Store.CountExceptionReattemptsAsync(created.Workflow.Id, "first");

        Assert.Multiple(() =>
        {
            Assert.That(beforeSuccess, Is.EqualTo(2));
            Assert.That(afterSuccess.Outcome, Is.EqualTo(FinalizeOutcome.Applied));
            Assert.That(reset, Is.Zero);
        });
    }

    [Test]
    public async Task MalformedMetadata_ReadsAsEmpty_AndCountsAsNothing()
    {
        var (created, claim) = await StartAndClaimAsync();
        var result = await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, Reattempted("first", ReattemptReasons.ExceptionPolicy));
        var reattempted = await ExecutionAsync(claim.Execution.Id);
        reattempted.Metadata = "{\"reattempt_reason\": \"exception_pol";
        await OverwriteAsync(reattempted);

        var read = await ExecutionAsync(claim.Execution.Id);

        Assert.Multiple(async () =>
        {
            Assert.That(result.NextExecution, Is.Not.Null);
            Assert.That(read.ParsedMetadata.IsEmpty, Is.True);
            Assert.That(read.ParsedMetadata.ReattemptReason, Is.Null);
            Assert.That(await Store.CountExceptionReattemptsAsync(created.Workflow.Id, "first"), Is.Zero);
        });
    }

    [Test]
    public async Task ReattemptMetadata_KeepsTheReasonAndTheException()
    {
        var (_, claim) = await StartAndClaimAsync();
        var completion = Reattempted("first", ReattemptReasons.ExceptionPolicy) with
        {
            Metadata = StepExecutionMetadata.Empty.WithReason(ReattemptReasons.ExceptionPolicy)
                .WithException("System.Net.Http.HttpRequestException", "502 Bad Gateway", "at Client.Send()").ToJson(),
        };

        await Store.FinalizeAsync(claim.Execution!.Id, claim.Execution.LeaseToken!, completion);

        var metadata = (await ExecutionAsync(claim.Execution.Id)).ParsedMetadata;
        Assert.Multiple(() =>
        {
            Assert.That(metadata.ReattemptReason, Is.EqualTo("exception_policy"));
            Assert.That(metadata.ExceptionClass, Is.EqualTo("System.Net.Http.HttpRequestException"));
            Assert.That(metadata.ExceptionMessage, Is.EqualTo("502 Bad Gateway"));
            Assert.That(metadata.ExceptionBacktrace, Is.EqualTo("at Client.Send()"));
        });
    }
}
