using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Server;

/// <summary>Two steps around a wait for an external event.</summary>
[WorkflowName("e2e_traced")]
public sealed class E2ETracedWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("first", () => Task.CompletedTask);
        steps.WaitFor("go", TimeSpan.FromMinutes(5), WaitTimeout.Cancel);
        steps.Step("second", () => Task.CompletedTask);
    }
}

/// <summary>
/// One trace from start to finish on a real Hangfire server: the request that starts a workflow is the root, the
/// start span its child, and every step span — run later by a worker — a child of the start span; the step that
/// takes an event links the sender's span. The schedule-delay histogram and the workflows gauge report.
/// </summary>
[TestFixture("postgresql")]
[TestFixture("sqlite")]
[Parallelizable(ParallelScope.None)]
public sealed class TracingEndToEndTests(string database)
{
    private static readonly ActivitySource App = new("GenevaDrive.Tests.App");

    [Test]
    public async Task StepsAreChildrenOfTheStartingRequest_AcrossAWaitForAnEvent_WhoseSenderIsLinked()
    {
        await using var db = TestDatabase.Create(database);
        var accounts = new AccountDirectory();
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "GenevaDrive" or "GenevaDrive.Tests.App",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var delays = new ConcurrentQueue<double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "GenevaDrive" && instrument.Name == "genevadrive.step.schedule_delay")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((_, value, _, _) => delays.Enqueue(value));
        meters.Start();
        var target = HangfireTestServer.NewTarget(database, "traced");
        try
        {
            await using var server = HangfireTestServer.Start(database, db,
                options => options.AddWorkflow<E2ETracedWorkflow>()
                    .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id)),
                services => services.AddSingleton(accounts), workers: 2, hangfireTarget: target);

            long workflowId;
            ActivityContext request;
            using (var http = App.StartActivity("POST /signup"))
            {
                request = http!.Context;
                workflowId = (await server.Client.StartAsync<E2ETracedWorkflow>(accounts.Add("traced"))).Id;
            }

            await HangfireTestServer.WaitUntilAsync(async () => (await server.Client.GetCurrentExecutionAsync(workflowId))?.StepName == "wait_for_go",
                TimeSpan.FromSeconds(30), "the workflow to wait for its event");
            ActivityContext webhook;
            using (var hook = App.StartActivity("POST /webhook"))
            {
                webhook = hook!.Context;
                await server.Client.SendEventAsync(workflowId, "go");
            }

            await HangfireTestServer.WaitUntilAsync(async () => (await server.Client.GetAsync(workflowId))!.State == WorkflowState.Finished,
                TimeSpan.FromSeconds(30), "the workflow to finish");
            await server.Runtime.StateGauge.RefreshAsync();
            var gauge = server.Runtime.StateGauge.Observe(database).ToList();

            var start = spans.Single(s => s.OperationName == "GenevaDrive.Start" && s.TraceId == request.TraceId);
            var steps = spans.Where(s => s.OperationName == "GenevaDrive.Step" && Equals(s.GetTagItem("genevadrive.workflow_id"), workflowId)).ToList();
            var waited = steps.Single(s => Equals(s.GetTagItem("genevadrive.step"), "wait_for_go"));
            TestContext.Out.WriteLine($"{database}: request {request.SpanId} → start {start.SpanId} → steps " +
                                      string.Join(", ", steps.Select(s => $"{s.GetTagItem("genevadrive.step")}({s.ParentSpanId})")));
            Assert.Multiple(() =>
            {
                Assert.That(start.ParentSpanId, Is.EqualTo(request.SpanId), "the start span is the request's child");
                Assert.That(steps.Select(s => s.GetTagItem("genevadrive.step")), Is.EquivalentTo(new[] { "first", "wait_for_go", "second" }));
                Assert.That(steps.Select(s => s.TraceId), Is.All.EqualTo(request.TraceId), "one trace from the request to the last step");
                Assert.That(steps.Select(s => s.ParentSpanId), Is.All.EqualTo(start.SpanId), "every step is a child of the start span");
                Assert.That(waited.Links.Select(l => l.Context.SpanId), Does.Contain(webhook.SpanId), "the step that took the event links its sender");
                Assert.That(waited.GetTagItem("genevadrive.event"), Is.EqualTo("go"));
                Assert.That(delays, Has.Count.GreaterThanOrEqualTo(3), "a schedule delay per step");
                Assert.That(delays, Is.All.GreaterThanOrEqualTo(0));
                Assert.That(gauge.Any(m => m.Value >= 1 && m.Tags.ToArray().Contains(new KeyValuePair<string, object?>("state", "finished"))), Is.True,
                    "the workflows gauge counts the finished workflow");
            });
        }
        finally
        {
            HangfireTestServer.DeleteTarget(database, target);
        }
    }
}
