using GenevaDrive.Definition;

namespace GenevaDrive.Tests.Definition;

/// <summary>Declared evolution: renamed and retired steps, how stored names resolve, and every contradiction rejected together.</summary>
public sealed class StepEvolutionTests
{
    private static readonly Func<Task> Noop = () => Task.CompletedTask;

    [Test]
    public void StoredNames_ResolveToLiveRenamedRetiredOrUnknown()
    {
        var definition = Definitions.Of(s => s
            .Step("a", Noop)
            .Retired("b")
            .Step("c", Noop)
            .Step("d2", Noop)
            .Renamed("d", to: "d2")
            .Retired("e", finishWorkflow: true));

        Assert.Multiple(() =>
        {
            Assert.That(definition.Resolve("a").Kind, Is.EqualTo(StepNameKind.Defined));
            Assert.That(definition.Resolve("d") is { Kind: StepNameKind.Renamed, Step.Name: "d2" });
            Assert.That(definition.Resolve("b") is { Kind: StepNameKind.Retired, Step.Name: "c" }, "a retired step without continueAt continues at the step declared after it");
            Assert.That(definition.Resolve("e") is { Kind: StepNameKind.Retired, Step: null, Finishes: true });
            Assert.That(definition.Resolve("zzz").Kind, Is.EqualTo(StepNameKind.Unknown));
        });
    }

    [Test]
    public void NextAfterStored_FollowsTheDeclarations_AndRefusesAnUnknownName()
    {
        var definition = Definitions.Of(s => s.Step("a", Noop).Step("b2", Noop).Step("c", Noop)
            .Renamed("b", to: "b2").Retired("x", continueAt: "c").Retired("y", finishWorkflow: true));

        var error = Assert.Throws<StepNotDefinedException>(() => definition.NextAfterStored("gone", 42, "skip the current step of"))!;
        Assert.Multiple(() =>
        {
            Assert.That(definition.NextAfterStored("a", 42, "skip")?.Name, Is.EqualTo("b2"));
            Assert.That(definition.NextAfterStored("b", 42, "skip")?.Name, Is.EqualTo("c"), "after a former name: the step after the renamed one");
            Assert.That(definition.NextAfterStored("x", 42, "skip")?.Name, Is.EqualTo("c"), "after a retired step: where it continues");
            Assert.That(definition.NextAfterStored("y", 42, "skip"), Is.Null, "a retired step declared to finish");
            Assert.That(definition.NextAfterStored("c", 42, "skip"), Is.Null, "after the last step the workflow finishes");
            Assert.That(error.Message, Does.Contain("Cannot skip the current step of workflow 42").And.Contain("'gone'")
                .And.Contain("Defined steps: 'a', 'b2', 'c'").And.Contain("JumpToAsync(42").And.Contain("nothing was changed"));
        });
    }

    [Test]
    public void Contradictions_AreRejectedTogether_NamingEachRule()
    {
        var error = Definitions.Fails(s => s
            .Step("a", Noop)
            .Step("b", Noop)
            .Renamed("a", to: "b")              // a former name that is also a live step
            .Renamed("old", to: "missing")      // renamed to a step that does not exist
            .Retired("b")                       // a retired step that is live
            .Retired("gone", continueAt: "nowhere")
            .Renamed("twice", to: "a").Retired("twice", continueAt: "a")
            .Retired("last"));                  // nothing declared after it, no continueAt

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("'a' is declared a former name of 'b' but is also a live step"));
            Assert.That(error.Message, Does.Contain("the new name 'missing' is not a step of this workflow"));
            Assert.That(error.Message, Does.Contain("step 'b'").And.Contain("Retired: the step is still defined"));
            Assert.That(error.Message, Does.Contain("continueAt 'nowhere' is not a step of this workflow"));
            Assert.That(error.Message, Does.Contain("also declared renamed to 'a'"));
            Assert.That(error.Message, Does.Contain("no step is declared after it"));
        });
    }

    [Test]
    public void AStartChildrenStep_CannotBeRenamed_SinceItsNameGroupsItsChildren()
    {
        var error = Definitions.Fails(s => s
            .StartChildren<GenevaDrive.Tests.Execution.BillChildWorkflow, GenevaDrive.Tests.Execution.Account>("bill_everyone", _ => [])
            .WaitForChildren(ChildrenWait.All, TimeSpan.FromHours(1))
            .Renamed("bill_all", to: "bill_everyone"));

        Assert.That(error.Message, Does.Contain("'bill_everyone' is a StartChildren step").And.Contain("keep the name 'bill_all'"));
    }

    [Test]
    public void BadNames_AndBothContinueAtAndFinish_AreRejected()
    {
        var error = Definitions.Fails(s => s.Step("a", Noop).Renamed(" ", to: "a").Retired("x", continueAt: "a", finishWorkflow: true));

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("must be non-empty"));
            Assert.That(error.Message, Does.Contain("continueAt ('a') and finishWorkflow cannot both be given"));
        });
    }

    [Test]
    public void TheDeclarations_ArePartOfTheShape()
    {
        var plain = Definitions.Of(s => s.Step("a", Noop).Step("c", Noop));
        var declared = Definitions.Of(s => s.Step("a", Noop).Retired("b").Step("c", Noop));

        Assert.Multiple(() =>
        {
            Assert.That(declared.HasSameShapeAs(plain), Is.False);
            Assert.That(declared.Shape, Does.Contain("retired b -> c"));
            Assert.That(declared.HasSameShapeAs(Definitions.Of(s => s.Step("a", Noop).Retired("b").Step("c", Noop))), Is.True);
        });
    }
}
