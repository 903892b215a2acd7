using GenevaDrive.Server;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Server;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Registration;

/// <summary>The name of the host a workflow ran in.</summary>
public sealed record HostTag(string Name)
{
    public System.Collections.Concurrent.ConcurrentQueue<(string Host, long WorkflowId)> Runs { get; } = new();
}

[WorkflowName("host_tag")]
public sealed class HostTagWorkflow(HostTag tag) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("one", () => { tag.Runs.Enqueue((tag.Name, WorkflowId)); return Task.CompletedTask; });
        steps.Step("two", () => { tag.Runs.Enqueue((tag.Name, WorkflowId)); return Task.CompletedTask; });
    }
}

/// <summary>
/// The standard way to test an ASP.NET Core app (or to run two Hangfire servers on two storages): several
/// hosts in one process, each with its own container, storage, workflows and options.
/// </summary>
[Parallelizable(ParallelScope.None)]
public sealed class TwoHostsTests
{
    [Test]
    public async Task TwoHostsInOneProcess_EachRunItsOwnWorkflows_OnItsOwnStorage_AndDisposeCleanly()
    {
        await using var dbA = TestDatabase.Create("sqlite");
        await using var dbB = TestDatabase.Create("sqlite");
        var tagA = new HostTag("A");
        var tagB = new HostTag("B");
        var files = new List<string>();
        try
        {
            using var hostA = Build(dbA, tagA, files);
            using var hostB = Build(dbB, tagB, files);
            await hostA.StartAsync();
            await hostB.StartAsync();

            var started = new List<(string Host, long Id)>();
            foreach (var (host, tag) in new[] { (hostA, tagA), (hostB, tagB) })
            {
                var client = host.Services.GetRequiredService<IWorkflowClient>();
                var accounts = host.Services.GetRequiredService<AccountDirectory>();
                for (var i = 0; i < 3; i++)
                {
                    started.Add((tag.Name, (await client.StartAsync<HostTagWorkflow>(accounts.Add($"{tag.Name}-{i}"))).Id));
                }
            }

            // A body that has run is not yet a finalized step: wait for the workflows' recorded state, not for the bodies.
            await HangfireTestServer.WaitUntilAsync(async () =>
                {
                    foreach (var (name, id) in started)
                    {
                        var host = name == "A" ? hostA : hostB;
                        if ((await host.Services.GetRequiredService<IWorkflowClient>().GetAsync(id))?.State != WorkflowState.Finished)
                        {
                            return false;
                        }
                    }

                    return true;
                },
                TimeSpan.FromSeconds(45), "both hosts to finish their 3 workflows × 2 steps");
            var finishedA = await Task.WhenAll(started.Where(s => s.Host == "A").Select(s => hostA.Services.GetRequiredService<IWorkflowClient>().GetAsync(s.Id)));
            var finishedB = await Task.WhenAll(started.Where(s => s.Host == "B").Select(s => hostB.Services.GetRequiredService<IWorkflowClient>().GetAsync(s.Id)));
            await hostA.StopAsync();
            await hostB.StopAsync();

            Assert.Multiple(() =>
            {
                Assert.That(tagA.Runs.Select(r => r.WorkflowId).Distinct(), Is.EquivalentTo(started.Where(s => s.Host == "A").Select(s => s.Id)),
                    "host A ran exactly its own workflows");
                Assert.That(tagB.Runs.Select(r => r.WorkflowId).Distinct(), Is.EquivalentTo(started.Where(s => s.Host == "B").Select(s => s.Id)));
                Assert.That(finishedA.Concat(finishedB).Select(w => w!.State), Has.All.EqualTo(WorkflowState.Finished));
                Assert.That(tagA.Runs.Count + tagB.Runs.Count, Is.EqualTo(12), "each of the 6 workflows ran its 2 steps once");
                Assert.That(GlobalJobFilters.Filters.Count(f => f.Instance is WorkflowStepFilter), Is.Zero, "nothing process-wide was installed");
            });
        }
        finally
        {
            // AddHangfire points Hangfire's process-wide log provider and activator at the last host built.
            global::Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
            JobActivator.Current = new JobActivator();
            HangfireTestServer.DeleteSqliteFiles([.. files]);
        }
    }

    private static IHost Build(TestDatabase db, HostTag tag, List<string> files)
    {
        var file = Path.Combine(Path.GetTempPath(), $"hangfire-host-{tag.Name}-{Guid.NewGuid():N}.db");
        files.Add(file);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(tag).AddSingleton(new AccountDirectory());
        builder.Services.AddGenevaDrive(o =>
        {
            db.ConfigureStorage(o);
            o.AddWorkflow<HostTagWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
        });
        // Each host names its own Hangfire storage in its container: nothing relies on JobStorage.Current.
        builder.Services.AddSingleton<JobStorage>(new SQLiteStorage(file, new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) }));
        builder.Services.AddHangfire((sp, config) => config.UseGenevaDrive(sp));
        builder.Services.AddHangfireServer(o =>
        {
            o.WorkerCount = 2;
            o.SchedulePollingInterval = TimeSpan.FromMilliseconds(500);
            o.ServerName = "two-hosts-" + tag.Name;
        });
        return builder.Build();
    }
}
