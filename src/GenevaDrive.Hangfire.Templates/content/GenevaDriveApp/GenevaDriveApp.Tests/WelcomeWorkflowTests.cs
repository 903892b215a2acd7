using GenevaDrive;
using GenevaDrive.Testing;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace GenevaDriveApp.Tests;

/// <summary>Runs the welcome workflow through the same claim → run → finalize path as Hangfire, on a SQLite file, with a fake clock.</summary>
public sealed class WelcomeWorkflowTests
{
    [Test]
    public async Task ANewUser_IsWelcomed_GetsATip_AndIsCheckedIn()
    {
        var users = new UserDirectory();
        var ada = users.Add("ada");
        var file = Path.Combine(Path.GetTempPath(), $"welcome-{Guid.NewGuid():N}.db");
        await using var host = WorkflowTestHost.Create(
            options => options
                .UseSqlite($"Data Source={file}")
                .AddWorkflow<WelcomeWorkflow>()
                .AddHero<User>(user => user.Id, (services, id, ct) => Task.FromResult(users.Find(id))),
            services => services.AddLogging());

        var workflow = await host.Client.StartAsync<WelcomeWorkflow, User>(ada);
        var runs = await host.RunToEndAsync(workflow.Id);   // the fake clock jumps over the waits

        Assert.Multiple(async () =>
        {
            Assert.That(runs.Select(run => run.StepName), Is.EqualTo(new[] { "send_welcome", "send_tip", "check_in" }));
            Assert.That((await host.Client.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Finished));
        });
    }
}
