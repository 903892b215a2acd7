namespace GenevaDrive.Tests.Definition;

public sealed class StepCollectionTests
{
    private static readonly GenevaDrive.Definition.StepCollection Steps = Definitions.Of(s => s
        .Step("one", () => Task.CompletedTask)
        .Step("two", () => Task.CompletedTask)
        .Step("three", () => Task.CompletedTask)).Steps;

    [Test]
    public void Lookup_ByNameAndIndex()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Steps.Find("two")!.Name, Is.EqualTo("two"));
            Assert.That(Steps.Find("TWO"), Is.Null, "names are case-sensitive");
            Assert.That(Steps.Contains("three"), Is.True);
            Assert.That(Steps.IndexOf("three"), Is.EqualTo(2));
            Assert.That(Steps[0].Name, Is.EqualTo("one"));
            Assert.That(Steps.First!.Name, Is.EqualTo("one"));
            Assert.That(Steps.Last!.Name, Is.EqualTo("three"));
            Assert.That(Steps, Has.Count.EqualTo(3));
        });
    }

    [Test]
    public void NextAfter_WalksForward_AndEndsWithNull()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Steps.NextAfter(null)!.Name, Is.EqualTo("one"));
            Assert.That(Steps.NextAfter("one")!.Name, Is.EqualTo("two"));
            Assert.That(Steps.NextAfter("three"), Is.Null);
            Assert.That(Steps.NextAfter("unknown"), Is.Null);
        });
    }

    [Test]
    public void PreviousBefore_WalksBackward_AndEndsWithNull()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Steps.PreviousBefore("three")!.Name, Is.EqualTo("two"));
            Assert.That(Steps.PreviousBefore("one"), Is.Null);
            Assert.That(Steps.PreviousBefore(null), Is.Null);
            Assert.That(Steps.PreviousBefore("unknown"), Is.Null);
        });
    }

    [Test]
    public void EmptyCollection_HasNoFirstOrLast()
    {
        var empty = Definitions.Of(_ => { }).Steps;

        Assert.Multiple(() =>
        {
            Assert.That(empty.First, Is.Null);
            Assert.That(empty.Last, Is.Null);
            Assert.That(empty.NextAfter(null), Is.Null);
        });
    }
}
