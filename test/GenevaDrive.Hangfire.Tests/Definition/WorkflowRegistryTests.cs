using GenevaDrive.Definition;
using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace GenevaDrive.Tests.Definition;

public sealed class WorkflowRegistryTests
{
    private static IServiceProvider NoServices => new ServiceCollection().BuildServiceProvider();

    private static WorkflowRegistry Validated(params Type[] types)
    {
        var registry = new WorkflowRegistry();
        foreach (var type in types)
        {
            registry.Register(type);
        }

        registry.ValidateAll(NoServices);
        return registry;
    }

    [Test]
    public void Name_DefaultsToTheFullTypeName()
    {
        var registry = Validated(typeof(ParentWorkflow));

        Assert.Multiple(() =>
        {
            Assert.That(registry.NameOf(typeof(ParentWorkflow)), Is.EqualTo("GenevaDrive.Tests.Definition.ParentWorkflow"));
            Assert.That(registry.FindType("GenevaDrive.Tests.Definition.ParentWorkflow"), Is.EqualTo(typeof(ParentWorkflow)));
            Assert.That(WorkflowNames.DisplayNameFor(typeof(ParentWorkflow)), Is.EqualTo("ParentWorkflow"));
        });
    }

    [Test]
    public void Name_ComesFromTheAttribute_WhenPresent()
    {
        var registry = Validated(typeof(RenamedWorkflow));

        Assert.Multiple(() =>
        {
            Assert.That(registry.NameOf(typeof(RenamedWorkflow)), Is.EqualTo("signup-v1"));
            Assert.That(registry.FindType("signup-v1"), Is.EqualTo(typeof(RenamedWorkflow)));
            Assert.That(registry.GetDefinition(typeof(RenamedWorkflow)).Name, Is.EqualTo("signup-v1"));
        });
    }

    [Test]
    public void UnknownName_FindsNothing() =>
        Assert.That(new WorkflowRegistry().FindType("nope"), Is.Null);

    [Test]
    public void TwoTypesWithOneName_AreRejected()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(RenamedWorkflow));

        var error = Assert.Throws<StepConfigurationException>(() => registry.Register(typeof(ClashingNameWorkflow)))!;

        Assert.That(error.Message, Does.Contain("'signup-v1' is registered twice").And.Contain("RenamedWorkflow")
            .And.Contain("ClashingNameWorkflow").And.Contain("different [WorkflowName]"));
    }

    [Test]
    public void SameTypeTwice_IsHarmless()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(RenamedWorkflow));
        registry.Register(typeof(RenamedWorkflow));

        Assert.That(registry.Types, Has.Count.EqualTo(1));
    }

    [TestCase(typeof(AbstractWorkflow))]
    [TestCase(typeof(string))]
    [TestCase(typeof(Workflow<>))]
    public void NonWorkflowTypes_AreRejected(Type type)
    {
        var error = Assert.Throws<StepConfigurationException>(() => new WorkflowRegistry().Register(type))!;

        Assert.That(error.Message, Does.Contain("cannot be registered as a workflow").And.Contain("derived from Workflow<THero>"));
    }

    [Test]
    public void ValidateAll_ReportsEveryErrorOfEveryWorkflowAtOnce()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(BrokenWorkflowA));
        registry.Register(typeof(BrokenWorkflowB));

        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(NoServices))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Errors, Has.Count.EqualTo(2));
            Assert.That(error.Message, Does.StartWith("2 workflow configuration errors:"));
            Assert.That(error.Message, Does.Contain("BrokenWorkflowA', step 'x'").And.Contain("BrokenWorkflowB', step 'y'"));
        });
    }

    [Test]
    public void ValidateAll_ReadingTheHeroInDefine_FailsClearly()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(HeroInDefineWorkflow));

        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(NoServices))!;

        Assert.That(error.Message, Does.Contain("Define threw InvalidOperationException").And.Contain("not in Define"));
    }

    [Test]
    public void ValidateAll_DefineThrowing_IsReportedWithTheWorkflowName()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(ThrowingDefineWorkflow));

        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(NoServices))!;

        Assert.That(error.Message, Does.Contain("ThrowingDefineWorkflow': Define threw NotSupportedException: no definition today"));
    }

    [Test]
    public void ValidateAll_MissingConstructorService_IsReported()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(InjectedWorkflow));

        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(NoServices))!;

        Assert.That(error.Message, Does.Contain("InjectedWorkflow' could not be constructed").And.Contain("IGreeter"));
    }

    [Test]
    public async Task BoundDefinition_UsesInjectedServices_OfTheInstanceItWasBuiltFrom()
    {
        var greeter = new Mock<IGreeter>();
        var services = new ServiceCollection().AddSingleton(greeter.Object).BuildServiceProvider();
        var registry = new WorkflowRegistry();
        registry.Register(typeof(InjectedWorkflow));
        registry.ValidateAll(services);
        var workflow = ActivatorUtilities.CreateInstance<InjectedWorkflow>(services);
        workflow.SetHero(new User { Email = "ada@example.com" });

        await registry.BindTo(workflow).GetStep("greet").Run();

        greeter.Verify(g => g.GreetAsync("ada@example.com", It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task BoundDefinition_RunsAgainstTheNewInstance_NotTheOneValidatedAtStartUp()
    {
        var registry = Validated(typeof(InstanceTrackingWorkflow));
        var first = new InstanceTrackingWorkflow();
        first.SetHero(new User { Email = "first@example.com" });
        var second = new InstanceTrackingWorkflow();
        second.SetHero(new User { Email = "second@example.com" });

        var definition = registry.BindTo(second);
        await definition.GetStep("record").Run();
        await definition.GetStep("RecordAgainAsync").Run();

        Assert.Multiple(() =>
        {
            Assert.That(first.Log, Is.Empty);
            Assert.That(second.Log, Is.EqualTo(new[]
            {
                $"instance {second.Number} saw second@example.com", $"method on instance {second.Number}",
            }));
        });
    }

    [Test]
    public void BoundDefinition_WithADifferentShape_IsRefused()
    {
        var registry = Validated(typeof(UnstableShapeWorkflow));

        var error = Assert.Throws<StepConfigurationException>(() => registry.BindTo(new UnstableShapeWorkflow()))!;

        Assert.That(error.Message, Does.Contain("different definition from the one validated at start-up")
            .And.Contain("must not depend on instance state"));
    }

    [NonParallelizable]
    [TestCase("none", false)]
    [TestCase("queue", true)]
    [TestCase("cancelIf", true)]
    [TestCase("classPolicy", true)]
    [TestCase("hook", true)]
    [TestCase("withoutHero", true)]
    [TestCase("wait", true)]
    [TestCase("condition", true)]
    [TestCase("policy", true)]
    [TestCase("timeout", true)]
    [TestCase("onTimeout", true)]
    [TestCase("name", true)]
    [TestCase("order", true)]
    public void BoundDefinition_ThatDiffersInAnyPartOfItsShape_IsRefused_AsItsTextWouldBe(string vary, bool differs)
    {
        VaryingShapeWorkflow.Vary = "none";
        var registry = Validated(typeof(VaryingShapeWorkflow));
        var reference = registry.GetDefinition(typeof(VaryingShapeWorkflow));
        try
        {
            VaryingShapeWorkflow.Vary = vary;
            if (differs)
            {
                Assert.Throws<StepConfigurationException>(() => registry.BindTo(new VaryingShapeWorkflow()));
            }
            else
            {
                Assert.That(registry.BindTo(new VaryingShapeWorkflow()).Shape, Is.EqualTo(reference.Shape));
            }

            // The field-by-field check every step run makes agrees with the text the start-up check and the message use.
            var builder = new WorkflowBuilder("varying");
            ((Workflow)new VaryingShapeWorkflow()).DefineSteps(builder);
            var built = builder.Build(typeof(VaryingShapeWorkflow), typeof(User));
            var referenceBuilder = new WorkflowBuilder("varying");
            VaryingShapeWorkflow.Vary = "none";
            ((Workflow)new VaryingShapeWorkflow()).DefineSteps(referenceBuilder);
            var baseline = referenceBuilder.Build(typeof(VaryingShapeWorkflow), typeof(User));
            Assert.That(built.HasSameShapeAs(baseline), Is.EqualTo(built.Shape == baseline.Shape).And.EqualTo(!differs));
        }
        finally
        {
            VaryingShapeWorkflow.Vary = "none";
        }
    }

    [Test]
    public void GetDefinition_OfAnUnvalidatedType_ExplainsWhy()
    {
        var registry = new WorkflowRegistry();
        registry.Register(typeof(RenamedWorkflow));

        var error = Assert.Throws<InvalidOperationException>(() => registry.GetDefinition(typeof(RenamedWorkflow)))!;

        Assert.That(error.Message, Does.Contain("has not been validated"));
    }

    [Test]
    public void NameOf_AnUnregisteredType_SaysHowToRegister()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new WorkflowRegistry().NameOf(typeof(RenamedWorkflow)))!;

        Assert.That(error.Message, Does.Contain("AddWorkflow<RenamedWorkflow>()"));
    }

    [Test]
    public void GetStep_ForAnUndefinedName_ThrowsStepNotDefined()
    {
        var definition = Validated(typeof(ParentWorkflow)).GetDefinition(typeof(ParentWorkflow));

        var error = Assert.Throws<StepNotDefinedException>(() => definition.GetStep("renamed_away"))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.StepName, Is.EqualTo("renamed_away"));
            Assert.That(error.Message, Does.Contain("'parent_first', 'parent_last'"));
        });
    }
}
