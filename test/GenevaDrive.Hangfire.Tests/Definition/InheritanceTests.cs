using GenevaDrive.Definition;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Definition;

public sealed class InheritanceTests
{
    private WorkflowRegistry _registry = null!;

    [SetUp]
    public void SetUp()
    {
        _registry = new WorkflowRegistry();
        _registry.Register(typeof(ParentWorkflow));
        _registry.Register(typeof(ChildWorkflow));
        _registry.ValidateAll(new ServiceCollection().BuildServiceProvider());
    }

    private WorkflowDefinition Parent => _registry.GetDefinition(typeof(ParentWorkflow));

    private WorkflowDefinition Child => _registry.GetDefinition(typeof(ChildWorkflow));

    [Test]
    public void Child_KeepsParentSteps_AndPositionsItsOwnAroundThem() =>
        Assert.That(Child.Steps.Names,
            Is.EqualTo(new[] { "child_before", "parent_first", "child_middle", "parent_last", "child_after" }));

    [Test]
    public void Parent_IsUnchangedByTheChild()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Parent.Steps.Names, Is.EqualTo(new[] { "parent_first", "parent_last" }));
            Assert.That(Parent.CancelConditions, Has.Count.EqualTo(1));
            Assert.That(Parent.ExceptionPolicies, Has.Count.EqualTo(2));
            Assert.That(Parent.MayProceedWithoutHero, Is.False);
            Assert.That(Parent.Queue, Is.EqualTo("parent_queue"));
        });
    }

    [Test]
    public void Child_AddsToCancelConditionsAndPolicies_AndOverridesOptions()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Child.CancelConditions, Has.Count.EqualTo(2));
            Assert.That(Child.ExceptionPolicies, Has.Count.EqualTo(4));
            Assert.That(Child.MayProceedWithoutHero, Is.True);
            Assert.That(Child.Queue, Is.EqualTo("child_queue"));
        });
    }

    [Test]
    public void ChildBlanket_BeatsParentBlanket() =>
        Assert.That(Child.ResolveExceptionPolicy(null, new FormatException()), Is.SameAs(ChildWorkflow.ChildBlanket));

    [Test]
    public void ChildSpecific_BeatsParentBlanket() =>
        Assert.That(Child.ResolveExceptionPolicy(null, new ArgumentException()), Is.SameAs(ChildWorkflow.ChildSpecific));

    [Test]
    public void ParentSpecific_BeatsChildBlanket() =>
        Assert.That(Child.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ParentWorkflow.ParentSpecific));

    [Test]
    public void Parent_ResolvesWithItsOwnPoliciesOnly()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Parent.ResolveExceptionPolicy(null, new ArgumentException()), Is.SameAs(ParentWorkflow.ParentBlanket));
            Assert.That(Parent.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ParentWorkflow.ParentSpecific));
        });
    }

    [Test]
    public void Child_RedefiningAParentStep_IsADuplicate()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(ChildRedefiningParentStep));

        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(new ServiceCollection().BuildServiceProvider()))!;

        Assert.That(error.Message, Does.Contain("step 'parent_first'").And.Contain("already defined at WorkflowTypesForTests.cs:"));
    }

    [Test]
    public void CancelConditions_AreCheckedInOrder_AndAnyTrueCancels()
    {
        var calls = new List<string>();
        var definition = Definitions.Of(s => s
            .CancelIf(() => { calls.Add("first"); return false; })
            .CancelIf(() => { calls.Add("second"); return true; })
            .CancelIf(() => { calls.Add("third"); return true; }));

        var cancel = definition.ShouldCancel();

        Assert.Multiple(() =>
        {
            Assert.That(cancel, Is.True);
            Assert.That(calls, Is.EqualTo(new[] { "first", "second" }));
        });
    }

    [Test]
    public void NoCancelConditions_NeverCancel() =>
        Assert.That(Definitions.Of(s => s.Step("a", () => Task.CompletedTask)).ShouldCancel(), Is.False);
}
