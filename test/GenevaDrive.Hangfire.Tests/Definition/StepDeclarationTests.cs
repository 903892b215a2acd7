namespace GenevaDrive.Tests.Definition;

public sealed class StepDeclarationTests
{
    private static Task<StepResult> NotifyAsync(CancellationToken ct) => Task.FromResult(StepResult.Skip());

    private static StepResult Sync() => StepResult.Finished();

    [Test]
    public async Task NamedStep_StoresBodyThatCompletes_WhenBodyReturnsPlainTask()
    {
        var ran = false;
        var definition = Definitions.Of(s => s.Step("send", ct =>
        {
            ran = true;
            return Task.CompletedTask;
        }));

        var result = await definition.Steps.Single().Run();

        Assert.Multiple(() =>
        {
            Assert.That(definition.Steps.Single().Name, Is.EqualTo("send"));
            Assert.That(ran, Is.True);
            Assert.That(result.Kind, Is.EqualTo(StepResultKind.Completed));
        });
    }

    [Test]
    public async Task EveryBodyShape_IsAccepted_AndItsResultKept()
    {
        var definition = Definitions.Of(s => s
            .Step("a", ct => Task.FromResult(StepResult.Cancel()))
            .Step("b", () => Task.CompletedTask)
            .Step("c", () => Task.FromResult(StepResult.Pause()))
            .Step("d", () => StepResult.Reattempt(TimeSpan.FromSeconds(3))));

        var results = new List<StepResult>();
        foreach (var step in definition.Steps)
        {
            results.Add(await step.Run());
        }

        Assert.That(results.Select(r => r.ToString()),
            Is.EqualTo(new[] { "Cancel", "Completed", "Pause", "Reattempt after 00:00:03" }));
    }

    [Test]
    public void MethodGroupStep_IsNamedAfterTheMethod()
    {
        var definition = Definitions.Of(s => s.Step(NotifyAsync).Step(Sync));

        Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "NotifyAsync", "Sync" }));
    }

    [Test]
    public void LocalFunctionStep_IsNamedAfterTheLocalFunction()
    {
        static Task ArchiveAsync(CancellationToken ct) => Task.CompletedTask;

        var definition = Definitions.Of(s => s.Step(ArchiveAsync));

        Assert.That(definition.Steps.Single().Name, Is.EqualTo("ArchiveAsync"));
    }

    [Test]
    public void AnonymousSteps_AreNamedByPosition_CountingNamedSteps()
    {
        var definition = Definitions.Of(s => s
            .Step("named_step", () => Task.CompletedTask)
            .Step(() => Task.CompletedTask)
            .Step(ct => Task.CompletedTask));

        Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "named_step", "step_2", "step_3" }));
    }

    [Test]
    public void AnonymousStep_WithPosition_TakesTheNextPositionalName()
    {
        var definition = Definitions.Of(s => s
            .Step("first", () => Task.CompletedTask)
            .Step("third", () => Task.CompletedTask)
            .Step(() => Task.CompletedTask, beforeStep: "third"));

        Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "first", "step_3", "third" }));
    }

    [Test]
    public void GeneratedName_ClashingWithExplicitName_IsADuplicate()
    {
        var error = Definitions.Fails(s => s
            .Step("step_2", () => Task.CompletedTask)
            .Step(() => Task.CompletedTask));

        Assert.That(error.Message, Does.Contain("step 'step_2'").And.Contain("already defined"));
    }

    [Test]
    public void DuplicateStepName_FailsNamingWorkflowStepAndBothLocations()
    {
        var error = Definitions.Fails(s => s
            .Step("welcome", () => Task.CompletedTask)
            .Step("welcome", () => Task.CompletedTask), name: "Signup");

        Assert.That(error.Message, Does.StartWith("Workflow 'Signup', step 'welcome' (StepDeclarationTests.cs:")
            .And.Contain("already defined at StepDeclarationTests.cs:")
            .And.Contain("rename one of them"));
    }

    [Test]
    public void SourceLocation_OfEachStep_IsRecorded()
    {
        var line = 0;
        var definition = Definitions.Of(s =>
        {
            line = new System.Diagnostics.StackFrame(0, true).GetFileLineNumber() + 1;
            s.Step("located", () => Task.CompletedTask);
        });

        var source = definition.Steps.Single().Source;
        Assert.That(source.ToString(), Is.EqualTo($"StepDeclarationTests.cs:{line}"));
    }

    [Test]
    public void StepsGeneratedInALoop_KeepTheirStaggeredWaits()
    {
        var waits = new[] { 1, 5, 30 }.Select(m => TimeSpan.FromMinutes(m)).ToArray();
        var definition = Definitions.Of(s =>
        {
            for (var i = 0; i < waits.Length; i++)
            {
                s.Step($"poll_{i + 1}", () => Task.FromResult(StepResult.Completed()), wait: waits[i]);
            }
        });

        Assert.Multiple(() =>
        {
            Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "poll_1", "poll_2", "poll_3" }));
            Assert.That(definition.Steps.Select(x => x.Wait), Is.EqualTo(waits.Cast<TimeSpan?>()));
        });
    }

    [Test]
    public void Wait_ZeroIsAccepted_AndMissingWaitIsNull()
    {
        var definition = Definitions.Of(s => s
            .Step("a", () => Task.CompletedTask, wait: TimeSpan.Zero)
            .Step("b", () => Task.CompletedTask)
            .Step("c", () => Task.CompletedTask, wait: TimeSpan.FromHours(2)));

        Assert.That(definition.Steps.Select(x => x.Wait),
            Is.EqualTo(new TimeSpan?[] { TimeSpan.Zero, null, TimeSpan.FromHours(2) }));
    }

    [Test]
    public void Wait_Negative_IsRejectedWithTheValueAndFix()
    {
        var error = Definitions.Fails(s => s.Step("late", () => Task.CompletedTask, wait: TimeSpan.FromSeconds(-1)));

        Assert.That(error.Message, Does.Contain("step 'late'").And.Contain("-00:00:01").And.Contain("negative")
            .And.Contain("TimeSpan.Zero"));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase(" padded")]
    public void StepName_EmptyOrPadded_IsRejected(string name)
    {
        var error = Definitions.Fails(s => s.Step(name, () => Task.CompletedTask));

        Assert.That(error.Message, Does.Contain("must be non-empty"));
    }

    [Test]
    public void StepName_LongerThanTheColumn_IsRejected()
    {
        var error = Definitions.Fails(s => s.Step(new string('x', 201), () => Task.CompletedTask));

        Assert.That(error.Message, Does.Contain("201 characters").And.Contain("limit is 200"));
    }

    [Test]
    public void NullBody_IsRejected()
    {
        var error = Definitions.Fails(s => s.Step("nothing", (Func<Task>)null!));

        Assert.That(error.Message, Does.Contain("step 'nothing'").And.Contain("needs a body"));
    }

    [Test]
    public void SkipIf_IsEvaluatedWhenAsked_NotAtDefinition()
    {
        var flag = false;
        var step = Definitions.Of(s => s.Step("maybe", () => Task.CompletedTask, skipIf: () => flag)).Steps.Single();

        var before = step.ShouldSkip();
        flag = true;

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.False);
            Assert.That(step.ShouldSkip(), Is.True);
        });
    }

    [Test]
    public void OnlyIf_SkipsTheStepWhenFalse()
    {
        var enabled = false;
        var step = Definitions.Of(s => s.Step("maybe", () => Task.CompletedTask, onlyIf: () => enabled)).Steps.Single();

        var whenDisabled = step.ShouldSkip();
        enabled = true;

        Assert.Multiple(() =>
        {
            Assert.That(whenDisabled, Is.True);
            Assert.That(step.ShouldSkip(), Is.False);
        });
    }

    [Test]
    public void StepWithoutCondition_NeverSkips()
    {
        var step = Definitions.Of(s => s.Step("always", () => Task.CompletedTask)).Steps.Single();

        Assert.That(step.ShouldSkip(), Is.False);
    }

    [Test]
    public void SkipIfAndOnlyIfTogether_AreRejected()
    {
        var error = Definitions.Fails(s => s.Step("both", () => Task.CompletedTask, skipIf: () => true, onlyIf: () => true));

        Assert.That(error.Message, Does.Contain("step 'both'").And.Contain("skipIf and onlyIf cannot both be given"));
    }

    [Test]
    public void BeforeAndAfterTogether_AreRejected()
    {
        var error = Definitions.Fails(s => s
            .Step("a", () => Task.CompletedTask)
            .Step("b", () => Task.CompletedTask)
            .Step("c", () => Task.CompletedTask, beforeStep: "a", afterStep: "b"));

        Assert.That(error.Message, Does.Contain("step 'c'").And.Contain("beforeStep and afterStep cannot both be given"));
    }

    [TestCase("before")]
    [TestCase("after")]
    public void PositionRelativeToUnknownStep_IsRejectedListingDeclaredSteps(string option)
    {
        var error = Definitions.Fails(s => s
            .Step("a", () => Task.CompletedTask)
            .Step("b", () => Task.CompletedTask,
                beforeStep: option == "before" ? "missing" : null,
                afterStep: option == "after" ? "missing" : null));

        Assert.That(error.Message, Does.Contain($"{option}Step refers to 'missing', which is not defined yet")
            .And.Contain("declared so far: 'a'"));
    }

    [Test]
    public void PositionRelativeToALaterStep_IsRejected_ForwardReferencesAreNotAllowed()
    {
        var error = Definitions.Fails(s => s
            .Step("a", () => Task.CompletedTask, afterStep: "b")
            .Step("b", () => Task.CompletedTask));

        Assert.That(error.Message, Does.Contain("step 'a'").And.Contain("'b', which is not defined yet"));
    }

    [Test]
    public void PositionRelativeToItself_IsRejected()
    {
        var error = Definitions.Fails(s => s.Step("a", () => Task.CompletedTask, afterStep: "a"));

        Assert.That(error.Message, Does.Contain("not defined yet"));
    }
}
