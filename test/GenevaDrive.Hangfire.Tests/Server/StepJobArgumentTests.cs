using GenevaDrive.Server;
using Hangfire.Client;
using Hangfire.Common;
using Moq;

namespace GenevaDrive.Tests.Server;

/// <summary>The step execution id argument of a step job: a positive integer or nothing runs.</summary>
public sealed class StepJobArgumentTests
{
    [TestCase(17L, 17L)]
    [TestCase(3, 3L)]
    [TestCase("42", 42L)]
    public void PositiveIntegers_AreRead(object value, long expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(WorkflowStepFilter.ReadExecutionId([value, "w", 1L, "s"], out var id), Is.Null);
            Assert.That(id, Is.EqualTo(expected));
        });
    }

    [TestCase(1.5, "'1.5' (Double)")]
    [TestCase(-3L, "'-3' (Int64)")]
    [TestCase(0L, "'0' (Int64)")]
    [TestCase("2.0", "'2.0' (String)")]
    [TestCase(null, "(null)")]
    public void AnythingElse_IsRefused_WithAReasonThatNamesTheValue(object? value, string echoed)
    {
        var problem = WorkflowStepFilter.ReadExecutionId([value, "w", 1L, "s"], out var id);

        Assert.Multiple(() =>
        {
            Assert.That(problem, Does.Contain("must be a positive integer step execution id"));
            Assert.That(problem, Does.Contain(echoed));
            Assert.That(id, Is.Zero, "never coerced into another execution's id");
        });
    }

    [Test]
    public void CreatingAStepJobWithAFractionalId_ThroughAClientWithTheFilter_Throws()
    {
        var method = typeof(WorkflowStepJob).GetMethod(nameof(WorkflowStepJob.RunAsync))!;
        var job = new Job(typeof(WorkflowStepJob), method, 1.5, "payment", 2L, "charge", null, CancellationToken.None);
        var filter = new WorkflowStepFilter(null!);
        var context = new CreatingContext(new CreateContext(new Mock<global::Hangfire.JobStorage>().Object, new Mock<global::Hangfire.Storage.IStorageConnection>().Object,
            job, new global::Hangfire.States.EnqueuedState()));

        var error = Assert.Throws<ArgumentException>(() => filter.OnCreating(context))!;

        Assert.That(error.Message, Does.Contain("'1.5'"));
    }
}
