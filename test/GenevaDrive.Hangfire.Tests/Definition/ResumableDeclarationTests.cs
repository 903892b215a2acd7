namespace GenevaDrive.Tests.Definition;

/// <summary>Declaring resumable steps: the options are checked as they are declared, with messages that name the fix.</summary>
public sealed class ResumableDeclarationTests
{
    private static Task Work(StepIteration<int> iteration, CancellationToken ct) => Task.CompletedTask;

    [Test]
    public void ResumableStep_KeepsItsSliceAndCheckpointInterval_AndTheyArePartOfTheShape()
    {
        var sliced = Definitions.Of(s => s.ResumableStep<int>("import", Work, maxRunTime: TimeSpan.FromMinutes(5), checkpointEvery: TimeSpan.Zero));
        var plain = Definitions.Of(s => s.ResumableStep<int>("import", Work));

        var step = sliced.Steps.Single();
        Assert.Multiple(() =>
        {
            Assert.That(step.Resumable, Is.Not.Null);
            Assert.That(step.CursorType, Is.EqualTo(typeof(int)));
            Assert.That(step.MaxRunTime, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(step.CheckpointEvery, Is.EqualTo(TimeSpan.Zero));
            Assert.That(plain.Steps.Single().CheckpointEvery, Is.EqualTo(WorkflowBuilder.DefaultCheckpointEvery));
            Assert.That(plain.Steps.Single().MaxRunTime, Is.Null);
            Assert.That(sliced.Shape, Is.Not.EqualTo(plain.Shape), "a changed slice is a changed definition");
        });
    }

    [Test]
    public void NonPositiveSlice_IsRefusedWithTheFix()
    {
        var error = Assert.Throws<StepConfigurationException>(() =>
            Definitions.Of(s => s.ResumableStep<int>("import", Work, maxRunTime: TimeSpan.Zero)));

        Assert.That(error!.Message, Does.Contain("step 'import'").And.Contain("maxRunTime is 00:00:00, which is not positive")
            .And.Contain("TimeSpan.FromMinutes(5)"));
    }

    [Test]
    public void NegativeCheckpointInterval_IsRefusedWithTheFix()
    {
        var error = Assert.Throws<StepConfigurationException>(() =>
            Definitions.Of(s => s.ResumableStep<int>("import", Work, checkpointEvery: TimeSpan.FromSeconds(-1))));

        Assert.That(error!.Message, Does.Contain("checkpointEvery is -00:00:01, which is negative").And.Contain("TimeSpan.Zero"));
    }

    [Test]
    public void MissingBody_AndDuplicateName_AreRefusedLikeAnyStep()
    {
        var noBody = Assert.Throws<StepConfigurationException>(() =>
            Definitions.Of(s => s.ResumableStep<int>("import", (Func<StepIteration<int>, CancellationToken, Task>)null!)));
        var duplicate = Assert.Throws<StepConfigurationException>(() =>
            Definitions.Of(s => s.Step("import", () => Task.CompletedTask).ResumableStep<int>("import", Work)));

        Assert.Multiple(() =>
        {
            Assert.That(noBody!.Message, Does.Contain("a step needs a body"));
            Assert.That(duplicate!.Message, Does.Contain("a step with this name is already defined"));
        });
    }

    [Test]
    public void StepResultReattempt_WithABrokenBackoff_NamesTheRule()
    {
        var error = Assert.Throws<ArgumentException>(() => StepResult.Reattempt(Backoff.Fixed(TimeSpan.FromSeconds(-5))));

        Assert.That(error!.Message, Does.StartWith("StepResult.Reattempt was given a backoff that"));
    }

    [Test]
    public void ReattemptResults_DescribeTheirBackoffAndRewind()
    {
        Assert.Multiple(() =>
        {
            Assert.That(StepResult.Reattempt(rewind: true).ToString(), Is.EqualTo("Reattempt (rewind)"));
            Assert.That(StepResult.Reattempt(Backoff.Fixed(TimeSpan.FromSeconds(5))).ToString(), Does.StartWith("Reattempt by fixed"));
            Assert.That(ExceptionPolicy.Reattempt(rewind: true).ToString(), Does.EndWith(", rewind)"));
            Assert.That(StepResult.Reattempt().Rewind, Is.False);
        });
    }

    [Test]
    public void IdempotencyKey_IsStablePerWorkflowStepAndAttempt()
    {
        var key = StepContext.BuildIdempotencyKey(42, "charge_card", 1);

        Assert.Multiple(() =>
        {
            Assert.That(StepContext.BuildIdempotencyKey(42, "charge_card", 1), Is.EqualTo(key));
            Assert.That(StepContext.BuildIdempotencyKey(42, "charge_card", 2), Is.Not.EqualTo(key));
            Assert.That(StepContext.BuildIdempotencyKey(43, "charge_card", 1), Is.Not.EqualTo(key));
            Assert.That(StepContext.BuildIdempotencyKey(42, "refund", 1), Is.Not.EqualTo(key));
            Assert.That(StepContext.BuildIdempotencyKey(long.MaxValue, new string('x', 200), int.MaxValue).Length, Is.LessThanOrEqualTo(60));
            Assert.That(key, Does.Match("^gd-42-[0-9a-f]{16}-1$"));
        });
    }
}

/// <summary>Every broken rule of a workflow is reported together.</summary>
public sealed class AllRulesTogetherTests
{
    [Test]
    public void SeveralBrokenRules_AreReportedTogether_EachWithItsStepAndFix()
    {
        var error = Definitions.Fails(s => s
            .Step("a", () => Task.CompletedTask, wait: TimeSpan.FromSeconds(-1))
            .Step("b", () => Task.CompletedTask, skipIf: () => true, onlyIf: () => true)
            .UseQueue("Not A Queue")
            .Step("c", () => Task.CompletedTask));

        Assert.Multiple(() =>
        {
            Assert.That(error.Errors, Has.Count.EqualTo(3));
            Assert.That(error.Message, Does.StartWith("3 workflow configuration errors:"));
            Assert.That(error.Errors[0], Does.Contain("step 'a'").And.Contain("wait is -00:00:01"));
            Assert.That(error.Errors[1], Does.Contain("step 'b'").And.Contain("skipIf and onlyIf cannot both be given"));
            Assert.That(error.Errors[2], Does.Contain("queue name 'Not A Queue' is invalid"));
        });
    }
}

/// <summary>Every lambda shape compiles as a step body, including one that only throws.</summary>
public sealed class ThrowOnlyBodyTests
{
    [Test]
    public void ThrowOnlyLambdas_CompileAndTheirExceptionReachesThePolicy()
    {
        var definition = Definitions.Of(s => s
            .Step("no_token", () => throw new InvalidOperationException("not yet"))
            .Step("with_token", ct => throw new TimeoutException("later"))
            .Step(() => throw new NotSupportedException("anonymous")));

        Assert.Multiple(() =>
        {
            Assert.That(definition.Steps.Names, Is.EqualTo(new[] { "no_token", "with_token", "step_3" }));
            Assert.ThrowsAsync<InvalidOperationException>(() => definition.Steps[0].Run());
            Assert.ThrowsAsync<TimeoutException>(() => definition.Steps[1].Run());
            Assert.ThrowsAsync<NotSupportedException>(() => definition.Steps[2].Run());
        });
    }

    [Test]
    public async Task TaskOfStepResultLambdas_StillKeepTheirResult()
    {
        var definition = Definitions.Of(s => s
            .Step("flow", () => Task.FromResult(StepResult.Skip()))
            .Step("plain", () => Task.CompletedTask)
            .Step("sync", () => StepResult.Finished()));

        Assert.That(new[] { (await definition.Steps[0].Run()).Kind, (await definition.Steps[1].Run()).Kind, (await definition.Steps[2].Run()).Kind },
            Is.EqualTo(new[] { StepResultKind.Skip, StepResultKind.Completed, StepResultKind.Finished }));
    }
}
