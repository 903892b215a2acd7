namespace GenevaDrive.Tests.Definition;

public sealed class StepResultAndHeroTests
{
    private sealed class ProbeWorkflow : Workflow<User>
    {
        public StepResult[] AllResults() =>
            [Completed(), Cancel(), Pause(), Skip(), Finished(), Reattempt(), Reattempt(TimeSpan.FromMinutes(5))];

        public User ReadHero() => Hero;

        public User? ReadHeroOrDefault() => HeroOrDefault;

        protected override void Define(WorkflowBuilder steps)
        {
        }
    }

    [Test]
    public void WorkflowHelpers_ReturnEachKind()
    {
        var results = new ProbeWorkflow().AllResults();

        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Kind), Is.EqualTo(new[]
            {
                StepResultKind.Completed, StepResultKind.Cancel, StepResultKind.Pause, StepResultKind.Skip,
                StepResultKind.Finished, StepResultKind.Reattempt, StepResultKind.Reattempt,
            }));
            Assert.That(results[5].Wait, Is.Null);
            Assert.That(results[6].Wait, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(results.Take(5).All(r => r.Wait is null), Is.True);
        });
    }

    [Test]
    public void Reattempt_WithNegativeWait_Throws()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => StepResult.Reattempt(TimeSpan.FromSeconds(-3)))!;

        Assert.That(error.Message, Does.Contain("zero or positive"));
    }

    [Test]
    public void Reattempt_WithZeroWait_IsAllowed() =>
        Assert.That(StepResult.Reattempt(TimeSpan.Zero).Wait, Is.EqualTo(TimeSpan.Zero));

    [Test]
    public void Hero_BeforeLoading_ExplainsThatDefineMustNotReadIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ProbeWorkflow().ReadHero())!;

        Assert.That(error.Message, Does.Contain("not loaded yet").And.Contain("not in Define"));
    }

    [Test]
    public void Hero_WhenDeleted_PointsToHeroOrDefault()
    {
        var workflow = new ProbeWorkflow();
        workflow.SetHero(null);

        var error = Assert.Throws<HeroMissingException>(() => workflow.ReadHero())!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("no longer exists").And.Contain("HeroOrDefault"));
            Assert.That(workflow.ReadHeroOrDefault(), Is.Null);
        });
    }

    [Test]
    public void Hero_OfTheWrongType_IsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new ProbeWorkflow().SetHero("not a user"))!;

        Assert.That(error.Message, Does.Contain("must be a GenevaDrive.Tests.Definition.User").And.Contain("System.String"));
    }

    [Test]
    public void Hero_WhenLoaded_IsReturned()
    {
        var workflow = new ProbeWorkflow();
        var user = new User { Email = "x@example.com" };
        workflow.SetHero(user);

        Assert.That(workflow.ReadHero(), Is.SameAs(user));
    }
}
