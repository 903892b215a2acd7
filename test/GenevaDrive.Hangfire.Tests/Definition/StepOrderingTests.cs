namespace GenevaDrive.Tests.Definition;

public sealed class StepOrderingTests
{
    private static readonly Func<Task> Noop = () => Task.CompletedTask;

    [Test]
    public void UnpositionedSteps_KeepDeclarationOrder() =>
        Assert.That(Definitions.Order(s => s.Step("c", Noop).Step("a", Noop).Step("b", Noop)),
            Is.EqualTo(new[] { "c", "a", "b" }));

    [Test]
    public void BeforeStep_InsertsInFrontOfTheTarget() =>
        Assert.That(Definitions.Order(s => s.Step("first", Noop).Step("third", Noop).Step("second", Noop, beforeStep: "third")),
            Is.EqualTo(new[] { "first", "second", "third" }));

    [Test]
    public void AfterStep_InsertsBehindTheTarget() =>
        Assert.That(Definitions.Order(s => s.Step("first", Noop).Step("third", Noop).Step("second", Noop, afterStep: "first")),
            Is.EqualTo(new[] { "first", "second", "third" }));

    [Test]
    public void BeforeTheFirstStep_BecomesTheFirstStep() =>
        Assert.That(Definitions.Order(s => s.Step("second", Noop).Step("first", Noop, beforeStep: "second")),
            Is.EqualTo(new[] { "first", "second" }));

    [Test]
    public void AfterTheLastStep_BecomesTheLastStep() =>
        Assert.That(Definitions.Order(s => s.Step("first", Noop).Step("second", Noop).Step("last", Noop, afterStep: "second")),
            Is.EqualTo(new[] { "first", "second", "last" }));

    [Test]
    public void MixedPositions_ProduceTheIntendedSequence() =>
        Assert.That(Definitions.Order(s => s
                .Step("step_1", Noop).Step("step_4", Noop)
                .Step("step_2", Noop, afterStep: "step_1")
                .Step("step_3", Noop, beforeStep: "step_4")),
            Is.EqualTo(new[] { "step_1", "step_2", "step_3", "step_4" }));

    [Test]
    public void StepsAroundOneMiddleStep_LandOnBothSides() =>
        Assert.That(Definitions.Order(s => s
                .Step("middle", Noop)
                .Step("first", Noop, beforeStep: "middle")
                .Step("last", Noop, afterStep: "middle")),
            Is.EqualTo(new[] { "first", "middle", "last" }));

    [Test]
    public void StepPositionedRelativeToAPositionedStep_IsPlacedCorrectly()
    {
        var definition = Definitions.Of(s => s
            .Step("first", Noop, wait: TimeSpan.FromMinutes(1))
            .Step("third", Noop, afterStep: "first")
            .Step("second", Noop, beforeStep: "third", wait: TimeSpan.FromMinutes(2)));

        Assert.Multiple(() =>
        {
            Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "first", "second", "third" }));
            Assert.That(definition.Steps.Select(x => x.Wait),
                Is.EqualTo(new TimeSpan?[] { TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), null }));
        });
    }

    [Test]
    public void SeveralStepsBeforeOneTarget_KeepDeclarationOrder() =>
        Assert.That(Definitions.Order(s => s.Step("t", Noop).Step("b1", Noop, beforeStep: "t").Step("b2", Noop, beforeStep: "t")),
            Is.EqualTo(new[] { "b1", "b2", "t" }));

    [Test]
    public void SeveralStepsAfterOneTarget_KeepDeclarationOrder() =>
        Assert.That(Definitions.Order(s => s
                .Step("a", Noop).Step("z", Noop)
                .Step("p", Noop, afterStep: "a")
                .Step("q", Noop, afterStep: "a")),
            Is.EqualTo(new[] { "a", "p", "q", "z" }));

    [Test]
    public void StepAfterATarget_GoesBehindTheStepsChainedAfterIt() =>
        Assert.That(Definitions.Order(s => s
                .Step("t", Noop).Step("end", Noop)
                .Step("a", Noop, afterStep: "t")
                .Step("a_child", Noop, afterStep: "a")
                .Step("b", Noop, afterStep: "t")),
            Is.EqualTo(new[] { "t", "a", "a_child", "b", "end" }));

    [Test]
    public void UnpositionedStepDeclaredAfterAPositionedOne_StaysInBaseOrder() =>
        Assert.That(Definitions.Order(s => s.Step("a", Noop).Step("b", Noop, afterStep: "a").Step("c", Noop)),
            Is.EqualTo(new[] { "a", "b", "c" }));

    [Test]
    public void PositionedSteps_KeepTheirOptions()
    {
        var definition = Definitions.Of(s => s
            .Step("a", Noop).Step("c", Noop)
            .Step("b", Noop, afterStep: "a", onException: ExceptionPolicy.Skip, wait: TimeSpan.FromSeconds(9)));

        var b = definition.Steps[1];
        Assert.Multiple(() =>
        {
            Assert.That(b.Name, Is.EqualTo("b"));
            Assert.That(b.ExceptionPolicy, Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(b.Wait, Is.EqualTo(TimeSpan.FromSeconds(9)));
        });
    }
}
