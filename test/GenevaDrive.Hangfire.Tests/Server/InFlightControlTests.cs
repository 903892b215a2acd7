using Hangfire;
using System.Diagnostics;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>
/// Cancel or pause a workflow whose step is running, from another GenevaDrive instance (as another process
/// would): the request is recorded at once, the worker's heartbeat carries it to the body's token, and the
/// attempt is closed when the body returns. Latency: at most one heartbeat interval (LeaseTimeout / 5).
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class InFlightControlTests(string database)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);

    [TestCase("cancel")]
    [TestCase("pause")]
    public async Task ControlWhileTheStepRuns_StopsTheBodyWithinAHeartbeat_AndTheWorkflowEndsAsAsked(string command)
    {
        await using var db = TestDatabase.Create(database);
        var probe = new ShutdownProbe { Policy = ExceptionPolicy.Cancel };
        var accounts = new AccountDirectory();
        var hero = accounts.Add("in-flight");
        var target = HangfireTestServer.NewTarget(database, "inflight");
        HangfireTestServer Start(bool server) => HangfireTestServer.Start(database, db,
            options =>
            {
                options.LeaseTimeout = Lease;
                options.AddWorkflow<E2EShutdownWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
            },
            services => services.AddSingleton(probe).AddSingleton(accounts),
            workers: 2, hangfireTarget: target, startServer: server);

        try
        {
            await using var worker = Start(server: true);
            await using var operator_ = Start(server: false);
            var workflow = await worker.Client.StartAsync<E2EShutdownWorkflow>(hero);
            await probe.FirstRunStarted.Task.WaitAsync(TimeSpan.FromSeconds(45));

            var clock = Stopwatch.StartNew();
            var after = command == "cancel"
                ? await operator_.Client.CancelAsync(workflow.Id)
                : await operator_.Client.PauseAsync(workflow.Id);
            await HangfireTestServer.WaitUntilAsync(async () => (await operator_.Client.GetCurrentExecutionAsync(workflow.Id))?.State != StepExecutionState.InProgress,
                TimeSpan.FromSeconds(30), "the running attempt to be closed");
            var stoppedAfter = clock.Elapsed;
            var history = await operator_.Client.GetHistoryAsync(workflow.Id);
            var eventsWhenStopped = probe.Events.ToArray();

            StepExecutionInfo? resumedRun = null;
            if (command == "pause")
            {
                await operator_.Client.ResumeAsync(workflow.Id);
                await HangfireTestServer.WaitUntilAsync(async () => (await operator_.Client.GetAsync(workflow.Id))!.State == WorkflowState.Finished,
                    TimeSpan.FromSeconds(45), "the resumed workflow to finish");
                resumedRun = (await operator_.Client.GetHistoryAsync(workflow.Id))[1];
            }

            TestContext.Out.WriteLine($"{database}/{command}: the running attempt was closed {stoppedAfter.TotalSeconds:0.0} s after the request (heartbeat every {Lease.TotalSeconds / 5:0.0} s)");
            Assert.Multiple(async () =>
            {
                Assert.That(after.State, Is.EqualTo(command == "cancel" ? WorkflowState.Canceled : WorkflowState.Paused), "recorded at once");
                Assert.That(history[0].State, Is.EqualTo(StepExecutionState.Canceled), "the attempt is closed, not failed");
                Assert.That(stoppedAfter, Is.LessThan(Lease), "the body's token fired within about one heartbeat interval, well before the lease");
                Assert.That(eventsWhenStopped, Does.Not.Contain("after"), "the stopped step did not advance the workflow");
                Assert.That(probe.StopReasons, Is.EqualTo(new[] { command == "cancel" ? StepStopReason.Canceled : StepStopReason.Paused }),
                    "the step could tell why its token fired");
                if (command == "cancel")
                {
                    Assert.That((await operator_.Client.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Canceled));
                    Assert.That(await operator_.Client.GetCurrentExecutionAsync(workflow.Id), Is.Null);
                }
                else
                {
                    Assert.That(resumedRun!.StepName, Is.EqualTo("work"), "Resume runs the paused step again");
                    Assert.That(probe.Events.Count(e => e == "work completed"), Is.EqualTo(1));
                }
            });
        }
        finally
        {
            HangfireTestServer.DeleteTarget(database, target);
        }
    }

    [Test]
    public async Task DeletingTheRunningStepJob_StopsTheStep_AndPausesTheWorkflow_InsteadOfRunningItAgain()
    {
        await using var db = TestDatabase.Create(database);
        var probe = new ShutdownProbe { Policy = ExceptionPolicy.Cancel };
        var accounts = new AccountDirectory();
        var hero = accounts.Add("deleted-while-running");
        var target = HangfireTestServer.NewTarget(database, "deleterunning");
        try
        {
            await using var worker = HangfireTestServer.Start(database, db,
                options =>
                {
                    options.LeaseTimeout = Lease;
                    options.AddWorkflow<E2EShutdownWorkflow>()
                        .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
                },
                services => services.AddSingleton(probe).AddSingleton(accounts),
                workers: 2, hangfireTarget: target);
            var workflow = await worker.Client.StartAsync<E2EShutdownWorkflow>(hero);
            await probe.FirstRunStarted.Task.WaitAsync(TimeSpan.FromSeconds(45));
            var running = (await worker.Client.GetCurrentExecutionAsync(workflow.Id))!;

            var clock = Stopwatch.StartNew();
            worker.JobClient.Delete(running.JobId!);
            await HangfireTestServer.WaitUntilAsync(async () => (await worker.Client.GetCurrentExecutionAsync(workflow.Id))?.State != StepExecutionState.InProgress,
                TimeSpan.FromSeconds(30), "the running attempt to be closed");
            var stoppedAfter = clock.Elapsed;
            // Long enough for a re-run to show: a released step comes back at once, and the reconciler runs now.
            var reconcile = await worker.Runtime.Maintenance.ReconcileAsync();
            await Task.Delay(Lease);
            var paused = (await worker.Client.GetAsync(workflow.Id))!;
            var history = await worker.Client.GetHistoryAsync(workflow.Id);
            var eventsWhilePaused = probe.Events.ToArray();

            await worker.Client.ResumeAsync(workflow.Id);
            await HangfireTestServer.WaitUntilAsync(async () => (await worker.Client.GetAsync(workflow.Id))!.State == WorkflowState.Finished,
                TimeSpan.FromSeconds(45), "the resumed workflow to finish");

            TestContext.Out.WriteLine($"{database}: the deleted job's step stopped {stoppedAfter.TotalSeconds:0.0} s after the delete");
            Assert.Multiple(() =>
            {
                Assert.That(paused.State, Is.EqualTo(WorkflowState.Paused), "deleting a running step job pauses its workflow");
                Assert.That(paused.StateReason, Does.Contain(running.JobId!).And.Contain("deleted while it ran"));
                Assert.That(probe.StopReasons, Is.EqualTo(new[] { StepStopReason.JobDeleted }), "the step could tell its job was deleted");
                Assert.That(history.Select(h => h.State), Is.EqualTo(new[] { StepExecutionState.Canceled }), "one attempt, closed; no new one scheduled");
                Assert.That(reconcile.JobsCreated, Is.Zero, "the reconciler does not bring the step back");
                Assert.That(eventsWhilePaused, Is.EqualTo(new[] { "work started" }), "the step did not run again while paused");
                Assert.That(probe.Events.Count(e => e == "work completed"), Is.EqualTo(1), "Resume ran it once");
                Assert.That(stoppedAfter, Is.LessThan(Lease), "stopped within about a heartbeat");
            });
        }
        finally
        {
            HangfireTestServer.DeleteTarget(database, target);
        }
    }
}
