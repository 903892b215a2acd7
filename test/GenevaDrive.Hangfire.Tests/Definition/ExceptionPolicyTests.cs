namespace GenevaDrive.Tests.Definition;

public sealed class ExceptionPolicyTests
{
    private static readonly Func<Task> Noop = () => Task.CompletedTask;

    private sealed class CustomException(string message) : InvalidOperationException(message);

    [Test]
    public void Reattempt_DefaultsToAHundredReattemptsThenPause()
    {
        var policy = ExceptionPolicy.Reattempt();

        Assert.Multiple(() =>
        {
            Assert.That(policy.Action, Is.EqualTo(ExceptionAction.Reattempt));
            Assert.That(policy.MaxReattempts, Is.EqualTo(100));
            Assert.That(policy.Wait, Is.Null);
            Assert.That(policy.TerminalAction, Is.EqualTo(TerminalAction.Pause));
        });
    }

    [Test]
    public void Reattempt_KeepsCustomValues_AndNullMeansUnlimited()
    {
        var custom = ExceptionPolicy.Reattempt(TimeSpan.FromSeconds(15), maxReattempts: 5, TerminalAction.Cancel);
        var unlimited = ExceptionPolicy.Reattempt(maxReattempts: null);

        Assert.Multiple(() =>
        {
            Assert.That(custom.Wait, Is.EqualTo(TimeSpan.FromSeconds(15)));
            Assert.That(custom.MaxReattempts, Is.EqualTo(5));
            Assert.That(custom.TerminalAction, Is.EqualTo(TerminalAction.Cancel));
            Assert.That(unlimited.MaxReattempts, Is.Null);
            Assert.That(unlimited.ToString(), Does.Contain("max=unlimited"));
        });
    }

    [Test]
    public void FixedPolicies_HaveTheirActions()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ExceptionPolicy.Pause.Action, Is.EqualTo(ExceptionAction.Pause));
            Assert.That(ExceptionPolicy.Cancel.Action, Is.EqualTo(ExceptionAction.Cancel));
            Assert.That(ExceptionPolicy.Skip.Action, Is.EqualTo(ExceptionAction.Skip));
            Assert.That(ExceptionPolicy.Skip.MaxReattempts, Is.Null);
        });
    }

    [TestCase(0)]
    [TestCase(-5)]
    public void StepPolicy_WithNonPositiveLimit_IsRejected(int max)
    {
        var error = Definitions.Fails(s => s.Step("pay", Noop, onException: ExceptionPolicy.Reattempt(maxReattempts: max)));

        Assert.That(error.Message, Does.Contain("step 'pay'").And.Contain($"maxReattempts {max}")
            .And.Contain("positive number, or null for unlimited"));
    }

    [Test]
    public void StepPolicy_WithNegativeWait_IsRejected()
    {
        var error = Definitions.Fails(s => s.Step("pay", Noop, onException: ExceptionPolicy.Reattempt(TimeSpan.FromMinutes(-1))));

        Assert.That(error.Message, Does.Contain("reattempt wait of -00:01:00"));
    }

    [Test]
    public void StepPolicy_WithUndefinedTerminalAction_IsRejected()
    {
        var error = Definitions.Fails(s => s.Step("pay", Noop, onException: ExceptionPolicy.Reattempt(terminalAction: (TerminalAction)7)));

        Assert.That(error.Message, Does.Contain("terminal action 7").And.Contain("TerminalAction.Pause or TerminalAction.Cancel"));
    }

    [Test]
    public void WorkflowPolicy_IsValidatedToo()
    {
        var error = Definitions.Fails(s => s.OnException(ExceptionPolicy.Reattempt(maxReattempts: 0)));

        Assert.That(error.Message, Does.StartWith("Workflow 'TestWorkflow' (ExceptionPolicyTests.cs:")
            .And.Contain("maxReattempts 0"));
    }

    [Test]
    public async Task Handler_DecidesWithAStepResult()
    {
        Exception? seen = null;
        var policy = ExceptionPolicy.Handle(e =>
        {
            seen = e;
            return StepResult.Reattempt(TimeSpan.FromMinutes(1));
        });
        var boom = new TimeoutException("slow");

        var result = await policy.Handler!(boom, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(policy.Action, Is.EqualTo(ExceptionAction.Handle));
            Assert.That(seen, Is.SameAs(boom));
            Assert.That(result!.Kind, Is.EqualTo(StepResultKind.Reattempt));
            Assert.That(result.Wait, Is.EqualTo(TimeSpan.FromMinutes(1)));
        });
    }

    [Test]
    public async Task AsyncHandler_MayDecideNothing()
    {
        var policy = ExceptionPolicy.Handle((e, ct) => Task.FromResult<StepResult?>(null));

        Assert.That(await policy.Handler!(new InvalidOperationException(), CancellationToken.None), Is.Null);
    }

    [Test]
    public void NoPolicies_ResolveToPause()
    {
        var definition = Definitions.Of(s => s.Step("a", Noop));

        Assert.That(definition.ResolveExceptionPolicy(definition.Steps[0], new InvalidOperationException()),
            Is.SameAs(ExceptionPolicy.Pause));
    }

    [Test]
    public void ExplicitStepPolicy_WinsOverEveryWorkflowPolicy_EvenAnExplicitPause()
    {
        var definition = Definitions.Of(s => s
            .OnException(ExceptionPolicy.Skip)
            .OnException<InvalidOperationException>(ExceptionPolicy.Cancel)
            .Step("a", Noop, onException: ExceptionPolicy.Pause));

        Assert.That(definition.ResolveExceptionPolicy(definition.Steps[0], new InvalidOperationException()),
            Is.SameAs(ExceptionPolicy.Pause));
    }

    [Test]
    public void SpecificPolicy_BeatsBlanket_AndBlanketCatchesTheRest()
    {
        var retry = ExceptionPolicy.Reattempt(maxReattempts: 3);
        var definition = Definitions.Of(s => s
            .OnException<TimeoutException>(retry)
            .OnException(ExceptionPolicy.Cancel)
            .Step("a", Noop));
        var step = definition.Steps[0];

        Assert.Multiple(() =>
        {
            Assert.That(definition.ResolveExceptionPolicy(step, new TimeoutException()), Is.SameAs(retry));
            Assert.That(definition.ResolveExceptionPolicy(step, new ArgumentException()), Is.SameAs(ExceptionPolicy.Cancel));
        });
    }

    [Test]
    public void SpecificPolicy_MatchesDerivedExceptions()
    {
        var definition = Definitions.Of(s => s.OnException<InvalidOperationException>(ExceptionPolicy.Skip).Step("a", Noop));

        Assert.Multiple(() =>
        {
            Assert.That(definition.ResolveExceptionPolicy(null, new CustomException("x")), Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(definition.ResolveExceptionPolicy(null, new ObjectDisposedException("o")), Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(definition.ResolveExceptionPolicy(null, new ArgumentException()), Is.SameAs(ExceptionPolicy.Pause));
        });
    }

    [Test]
    public void OfTwoSpecificPoliciesForOneType_TheLaterWins()
    {
        var definition = Definitions.Of(s => s
            .OnException<TimeoutException>(ExceptionPolicy.Skip)
            .OnException<TimeoutException>(ExceptionPolicy.Cancel));

        Assert.That(definition.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ExceptionPolicy.Cancel));
    }

    [Test]
    public void SeveralTypes_InOnePolicy_AnyMatches()
    {
        var definition = Definitions.Of(s => s.OnException(new[] { typeof(ArgumentException), typeof(FormatException) }, ExceptionPolicy.Cancel));

        Assert.Multiple(() =>
        {
            Assert.That(definition.ResolveExceptionPolicy(null, new FormatException()), Is.SameAs(ExceptionPolicy.Cancel));
            Assert.That(definition.ResolveExceptionPolicy(null, new ArgumentNullException("x")), Is.SameAs(ExceptionPolicy.Cancel));
            Assert.That(definition.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ExceptionPolicy.Pause));
        });
    }

    [Test]
    public void NonExceptionType_IsRejected()
    {
        var error = Definitions.Fails(s => s.OnException(new[] { typeof(string) }, ExceptionPolicy.Cancel));

        Assert.That(error.Message, Does.Contain("expected an Exception subclass, got System.String"));
    }

    [Test]
    public void EmptyTypeList_IsRejected()
    {
        var error = Definitions.Fails(s => s.OnException(Array.Empty<Type>(), ExceptionPolicy.Cancel));

        Assert.That(error.Message, Does.Contain("no exception types"));
    }

    [Test]
    public void TypeName_IsResolvedAtMatchTime_IncludingBaseTypes()
    {
        var definition = Definitions.Of(s => s.OnException("System.InvalidOperationException", ExceptionPolicy.Skip));

        Assert.Multiple(() =>
        {
            Assert.That(definition.ResolveExceptionPolicy(null, new InvalidOperationException()), Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(definition.ResolveExceptionPolicy(null, new CustomException("c")), Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(definition.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ExceptionPolicy.Pause));
        });
    }

    [Test]
    public void UnknownTypeName_NeverMatchesAndNeverThrows()
    {
        var definition = Definitions.Of(s => s.OnException("Nowhere.MissingException", ExceptionPolicy.Cancel));

        Assert.That(definition.ResolveExceptionPolicy(null, new InvalidOperationException()), Is.SameAs(ExceptionPolicy.Pause));
    }

    [Test]
    public void Predicate_MatchesWhatItSays()
    {
        var definition = Definitions.Of(s => s.OnException(e => e.Message.Contains("429", StringComparison.Ordinal), ExceptionPolicy.Skip));

        Assert.Multiple(() =>
        {
            Assert.That(definition.ResolveExceptionPolicy(null, new HttpRequestException("status 429")), Is.SameAs(ExceptionPolicy.Skip));
            Assert.That(definition.ResolveExceptionPolicy(null, new HttpRequestException("status 500")), Is.SameAs(ExceptionPolicy.Pause));
        });
    }

    [Test]
    public void MostRecentBlanket_Wins()
    {
        var definition = Definitions.Of(s => s.OnException(ExceptionPolicy.Skip).OnException(ExceptionPolicy.Cancel));

        Assert.That(definition.ResolveExceptionPolicy(null, new Exception()), Is.SameAs(ExceptionPolicy.Cancel));
    }

    [Test]
    public void SpecificDeclaredBeforeABlanket_StillBeatsTheBlanket()
    {
        var definition = Definitions.Of(s => s.OnException<TimeoutException>(ExceptionPolicy.Skip).OnException(ExceptionPolicy.Cancel));

        Assert.That(definition.ResolveExceptionPolicy(null, new TimeoutException()), Is.SameAs(ExceptionPolicy.Skip));
    }

    [TestCase("type")]
    [TestCase("name")]
    [TestCase("predicate")]
    public void NullArguments_ToWorkflowPolicies_AreRejected(string form)
    {
        var error = Definitions.Fails(s =>
        {
            switch (form)
            {
                case "type": s.OnException<TimeoutException>(null!); break;
                case "name": s.OnException(" ", ExceptionPolicy.Skip); break;
                default: s.OnException((Func<Exception, bool>)null!, ExceptionPolicy.Skip); break;
            }
        });

        Assert.That(error.Message, Does.StartWith("Workflow 'TestWorkflow'").And.Contain("OnException needs"));
    }
}
