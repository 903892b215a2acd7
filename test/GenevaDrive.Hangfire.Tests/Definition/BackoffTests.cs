namespace GenevaDrive.Tests.Definition;

public sealed class BackoffTests
{
    private static readonly TimeSpan S = TimeSpan.FromSeconds(1);

    [Test]
    public void Formulas_GiveTheDocumentedWaits()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Enumerable.Range(1, 4).Select(n => Backoff.Fixed(5 * S).DelayFor(n)), Has.All.EqualTo(5 * S));
            Assert.That(Enumerable.Range(1, 4).Select(n => Backoff.Linear(5 * S).DelayFor(n)), Is.EqualTo(new[] { 5 * S, 10 * S, 15 * S, 20 * S }));
            Assert.That(Enumerable.Range(1, 4).Select(n => Backoff.Linear(5 * S, increment: 2 * S, max: 8 * S).DelayFor(n)),
                Is.EqualTo(new[] { 5 * S, 7 * S, 8 * S, 8 * S }));
            Assert.That(Enumerable.Range(1, 5).Select(n => Backoff.Exponential(5 * S).DelayFor(n)), Is.EqualTo(new[] { 5 * S, 10 * S, 20 * S, 40 * S, 80 * S }));
            Assert.That(Enumerable.Range(1, 5).Select(n => Backoff.Exponential(5 * S, factor: 3, max: 60 * S).DelayFor(n)),
                Is.EqualTo(new[] { 5 * S, 15 * S, 45 * S, 60 * S, 60 * S }));
            Assert.That(Backoff.Exponential(TimeSpan.FromDays(1)).DelayFor(200), Is.GreaterThan(TimeSpan.FromDays(365)), "huge attempt numbers do not overflow");
        });
    }

    [Test]
    public void Jitter_StaysInTheUpperHalf_AndIsRepeatableForOneSeed()
    {
        var backoff = Backoff.Exponential(10 * S, max: 60 * S, jitter: true);
        var waits = Enumerable.Range(0, 200).Select(seed => backoff.DelayFor(3, seed)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(waits, Has.All.InRange(20 * S, 40 * S), "40 s, spread over 50–100%");
            Assert.That(waits.Distinct().Count(), Is.GreaterThan(100), "the waits are spread");
            var first = backoff.DelayFor(3, seed: 7);
            Assert.That(backoff.DelayFor(3, seed: 7), Is.EqualTo(first), "one seed, one wait");
        });
    }

    [Test]
    public void DecorrelatedJitter_GrowsWithinItsBounds_AndIsStablePerSeed()
    {
        var backoff = Backoff.DecorrelatedJitter(2 * S, max: 60 * S);
        var sequence = Enumerable.Range(1, 10).Select(n => backoff.DelayFor(n, seed: 42)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(sequence, Has.All.InRange(2 * S, 60 * S));
            Assert.That(sequence[0], Is.EqualTo(2 * S), "the first wait is the initial one");
            Assert.That(sequence, Is.EqualTo(Enumerable.Range(1, 10).Select(n => backoff.DelayFor(n, seed: 42))), "recomputing gives the same waits");
            for (var i = 1; i < sequence.Count; i++)
            {
                Assert.That(sequence[i], Is.LessThanOrEqualTo(TimeSpan.FromTicks(Math.Min(sequence[i - 1].Ticks * 3, (60 * S).Ticks))));
            }
        });
    }

    [Test]
    public void BadBackoffs_AreRefusedWhenTheWorkflowIsDefined_WithEveryRuleNamed()
    {
        var registry = new GenevaDrive.Definition.WorkflowRegistry();
        registry.Register(typeof(BadBackoffWorkflow));

        using var services = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(
            new Microsoft.Extensions.DependencyInjection.ServiceCollection());
        var error = Assert.Throws<StepConfigurationException>(() => registry.ValidateAll(services))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("has a backoff that multiplies by 0.5; use a factor of at least 1"));
            Assert.That(Backoff.Exponential(TimeSpan.FromSeconds(10), factor: 0.5, max: TimeSpan.FromSeconds(1)).Problems(),
                Has.Some.Contains("caps at 00:00:01, below its initial wait 00:00:10"), "every broken rule of the backoff is known");
            Assert.That(Backoff.Linear(TimeSpan.Zero).Problems(), Has.Some.Contains("starts at 00:00:00; use a positive initial wait"));
        });
    }

    [WorkflowName("bad_backoff")]
    public sealed class BadBackoffWorkflow : Workflow<Tests.Execution.Account>
    {
        protected override void Define(WorkflowBuilder steps) =>
            steps.Step("s", () => Task.CompletedTask,
                onException: ExceptionPolicy.Reattempt(Backoff.Exponential(TimeSpan.FromSeconds(10), factor: 0.5, max: TimeSpan.FromSeconds(1))));
    }
}
