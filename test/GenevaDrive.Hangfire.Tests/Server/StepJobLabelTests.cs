using GenevaDrive.Server;
using Hangfire.Common;

namespace GenevaDrive.Tests.Server;

/// <summary>What a step job's arguments say about its step, in the short form this version creates and in the earlier one.</summary>
public sealed class StepJobLabelTests
{
    [Test]
    public void TheShortForm_IsReadBackFromItsLabel()
    {
        var job = Job.FromExpression<WorkflowStepJob>(j => j.RunStepAsync(17, StepJobLabel.Format("signup", 42, "send welcome"), null, CancellationToken.None));

        Assert.That(StepJobLabel.Read(job), Is.EqualTo(("signup", 42L, "send welcome")));
        Assert.That(StepJobLabel.ReadWorkflowId(job), Is.EqualTo(42L), "the claim's hint, read without allocating");
    }

    [Test]
    public void ThePreviousForm_IsReadFromItsFourArguments()
    {
        var job = Job.FromExpression<WorkflowStepJob>(j => j.RunAsync(17, "signup", 42, "send welcome", null, CancellationToken.None));

        Assert.That(StepJobLabel.Read(job), Is.EqualTo(("signup", 42L, "send welcome")));
        Assert.That(StepJobLabel.ReadWorkflowId(job), Is.EqualTo(42L), "the claim's hint, read without allocating");
    }

    [TestCase("signup 42 › first", TestName = "{m}(no workflow id)")]
    [TestCase("signup #x › first", TestName = "{m}(an id that is no number)")]
    [TestCase("signup #42 first", TestName = "{m}(no step separator)")]
    [TestCase("signup #1234567890123456789 › first", TestName = "{m}(an id longer than a long)")]
    [TestCase("signup # › first", TestName = "{m}(an empty id)")]
    public void ALabelThatNamesNoWorkflow_GivesNothing_AndTheClaimLooksTheWorkflowUp(string label)
    {
        var job = Job.FromExpression<WorkflowStepJob>(j => j.RunStepAsync(17, label, null, CancellationToken.None));

        Assert.That(StepJobLabel.Read(job), Is.Null);
        Assert.That(StepJobLabel.ReadWorkflowId(job), Is.Null);
    }

    [Test]
    public void AWorkflowNameThatLooksLikeALabel_GivesItsFirstId_WhichTheClaimOnlyTakesAsAHint()
    {
        var job = Job.FromExpression<WorkflowStepJob>(j => j.RunStepAsync(17, StepJobLabel.Format("odd #7 › name", 42, "first"), null, CancellationToken.None));

        Assert.That(StepJobLabel.Read(job)?.WorkflowId, Is.EqualTo(7L));
        Assert.That(StepJobLabel.ReadWorkflowId(job), Is.EqualTo(7L));
    }
}
