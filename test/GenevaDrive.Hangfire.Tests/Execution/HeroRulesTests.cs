using GenevaDrive.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Execution;

/// <summary>A workflow that goes on without its hero, with conditions that read the hero.</summary>
[WorkflowName("heroless_conditions")]
public sealed class HerolessConditionsWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.MayProceedWithoutHero();
        steps.CancelIf(() => Hero.Closed);
        steps.Step("skip_if_vip", () => Record("skip_if_vip"), skipIf: () => Hero.Vip);
        steps.Step("only_if_vip", () => Record("only_if_vip"), onlyIf: () => Hero.Vip);
        steps.Step("greet", () => Record($"greet {Hero.Id}"));
    }

    private Task Record(string what)
    {
        probe.Record(what);
        return Task.CompletedTask;
    }
}

/// <summary>A hero with a stable stored name.</summary>
[HeroName("member")]
public sealed class Member
{
    public required string Id { get; init; }
}

[WorkflowName("member_welcome")]
public sealed class MemberWelcomeWorkflow : Workflow<Member>
{
    protected override void Define(WorkflowBuilder steps) => steps.Step("welcome", () => Task.CompletedTask);
}

/// <summary>Heroes that were deleted, and heroes with stable names; on every database.</summary>
public sealed class HeroRulesTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task MissingHero_UnderMayProceedWithoutHero_ConditionsReadingItDoNotHold_AndABodyReadingItFailsClearly()
    {
        var workflow = await StartAsync<HerolessConditionsWorkflow>("leaver");
        Accounts.Delete("leaver");

        await Host.RunToEndAsync(workflow.Id);

        var after = await WorkflowAsync(workflow.Id);
        var greet = (await HistoryAsync(workflow.Id)).Last();
        Assert.Multiple(() =>
        {
            Assert.That(Probe.Events, Is.EqualTo(new[] { "skip_if_vip" }),
                "CancelIf(Hero.Closed) did not cancel, skipIf(Hero.Vip) did not skip, onlyIf(Hero.Vip) skipped");
            Assert.That(greet.StepName, Is.EqualTo("greet"));
            Assert.That(greet.ErrorClassName, Is.EqualTo(typeof(HeroMissingException).FullName));
            Assert.That(greet.ErrorMessage, Does.Contain("read HeroOrDefault"));
            Assert.That(after.State, Is.EqualTo(WorkflowState.Paused), "the body's exception went through its policy (Pause)");
        });
    }

    [Test]
    public async Task HeroName_IsStored_AndWorkflowsStoredUnderTheClassNameCanBeMoved()
    {
        await using var host = WorkflowTestHost.Create(options =>
        {
            Db.ConfigureStorage(options);
            options.AddWorkflow<MemberWelcomeWorkflow>().AddHero<Member>(m => m.Id, (_, id, _) => Task.FromResult<Member?>(new Member { Id = id }));
        });
        var member = new Member { Id = "m-1" };
        var started = await host.Client.StartAsync<MemberWelcomeWorkflow>(member);
        // A workflow stored before the class had [HeroName]: under its full name.
        var store = new GenevaDrive.Store.WorkflowStore(Db.Dialect, TimeProvider.System);
        var old = await store.CreateAsync(new GenevaDrive.Store.NewWorkflow("member_welcome", typeof(Member).FullName!, "m-2", false, "welcome", null));

        var moved = await host.Client.MigrateHeroTypeNameAsync<Member>(typeof(Member).FullName!);
        var again = await host.Client.MigrateHeroTypeNameAsync<Member>(typeof(Member).FullName!);
        var found = await host.Client.GetByHeroAsync(new Member { Id = "m-2" });

        Assert.Multiple(() =>
        {
            Assert.That(started.HeroType, Is.EqualTo("member"));
            Assert.That(moved, Is.EqualTo(1));
            Assert.That(again, Is.Zero, "idempotent");
            Assert.That(found.Single().Id, Is.EqualTo(old.Workflow.Id), "found by hero under the new name");
        });
    }
}
