using GenevaDrive.Definition;

namespace GenevaDrive.Tests.Definition;

public sealed class WorkflowOptionsTests
{
    [Test]
    public void Defaults_AreDefaultQueue_AndHeroRequired()
    {
        var definition = Definitions.Of(s => s.Step("a", () => Task.CompletedTask));

        Assert.Multiple(() =>
        {
            Assert.That(definition.Queue, Is.EqualTo("default"));
            Assert.That(definition.MayProceedWithoutHero, Is.False);
        });
    }

    [Test]
    public void MayProceedWithoutHero_IsRecorded() =>
        Assert.That(Definitions.Of(s => s.MayProceedWithoutHero()).MayProceedWithoutHero, Is.True);

    [TestCase("critical")]
    [TestCase("emails_2-low")]
    public void ValidQueue_IsKept(string queue) =>
        Assert.That(Definitions.Of(s => s.UseQueue(queue)).Queue, Is.EqualTo(queue));

    [TestCase("Critical")]
    [TestCase("has space")]
    [TestCase("")]
    [TestCase("semi;colon")]
    public void InvalidQueue_IsRejectedWithTheRule(string queue)
    {
        var error = Definitions.Fails(s => s.UseQueue(queue));

        Assert.That(error.Message, Does.Contain($"queue name '{queue}' is invalid").And.Contain("lower-case letters, digits"));
    }

    [Test]
    public async Task Hooks_AreKeptInDeclarationOrder()
    {
        var calls = new List<string>();
        var definition = Definitions.Of(s => s
            .BeforeEachStep((ctx, ct) => { calls.Add("before1"); return Task.CompletedTask; })
            .BeforeEachStep((ctx, ct) => { calls.Add("before2"); return Task.CompletedTask; })
            .AroundEachStep(async (ctx, next) => { calls.Add("around"); await next(); })
            .AfterEachStep((ctx, ct) => { calls.Add("after"); return Task.CompletedTask; }));
        var context = new StepContext("w", 1, "s", 2);

        foreach (var hook in definition.Hooks.Before)
        {
            await hook(context, CancellationToken.None);
        }

        await definition.Hooks.Around[0](context, () => { calls.Add("body"); return Task.CompletedTask; });
        await definition.Hooks.After[0](context, CancellationToken.None);

        Assert.That(calls, Is.EqualTo(new[] { "before1", "before2", "around", "body", "after" }));
    }

    [Test]
    public void NullHooksAndConditions_AreRejected()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Definitions.Fails(s => s.BeforeEachStep(null!)).Message, Does.Contain("BeforeEachStep needs a hook"));
            Assert.That(Definitions.Fails(s => s.AroundEachStep(null!)).Message, Does.Contain("AroundEachStep needs a hook"));
            Assert.That(Definitions.Fails(s => s.AfterEachStep(null!)).Message, Does.Contain("AfterEachStep needs a hook"));
            Assert.That(Definitions.Fails(s => s.CancelIf(null!)).Message, Does.Contain("CancelIf needs a condition"));
        });
    }

    [Test]
    public void Shape_IsEqualForEqualDefinitions_AndDiffersWhenAnOptionDiffers()
    {
        static void Define(WorkflowBuilder s, TimeSpan wait) =>
            s.Step("a", () => Task.CompletedTask, wait: wait, onException: ExceptionPolicy.Reattempt());

        var one = Definitions.Of(s => Define(s, TimeSpan.FromMinutes(1)));
        var same = Definitions.Of(s => Define(s, TimeSpan.FromMinutes(1)));
        var other = Definitions.Of(s => Define(s, TimeSpan.FromMinutes(2)));

        Assert.Multiple(() =>
        {
            Assert.That(same.Shape, Is.EqualTo(one.Shape));
            Assert.That(other.Shape, Is.Not.EqualTo(one.Shape));
        });
    }
}
