using GenevaDrive.Execution;

namespace GenevaDrive.Tests.Execution;

public sealed class StateTransitionsTests
{
    private static readonly (WorkflowState From, WorkflowState To)[] AllowedWorkflow =
    [
        (WorkflowState.Ready, WorkflowState.Performing), (WorkflowState.Ready, WorkflowState.Paused),
        (WorkflowState.Ready, WorkflowState.Canceled), (WorkflowState.Ready, WorkflowState.Finished),
        (WorkflowState.Performing, WorkflowState.Ready), (WorkflowState.Performing, WorkflowState.Finished),
        (WorkflowState.Performing, WorkflowState.Canceled), (WorkflowState.Performing, WorkflowState.Paused),
        (WorkflowState.Paused, WorkflowState.Ready), (WorkflowState.Paused, WorkflowState.Canceled),
    ];

    private static readonly (StepExecutionState From, StepExecutionState To)[] AllowedStep =
    [
        (StepExecutionState.Scheduled, StepExecutionState.InProgress), (StepExecutionState.Scheduled, StepExecutionState.Canceled),
        (StepExecutionState.Scheduled, StepExecutionState.Skipped), (StepExecutionState.Scheduled, StepExecutionState.Failed),
        (StepExecutionState.Scheduled, StepExecutionState.Completed),
        (StepExecutionState.InProgress, StepExecutionState.Completed), (StepExecutionState.InProgress, StepExecutionState.Failed),
        (StepExecutionState.InProgress, StepExecutionState.Canceled), (StepExecutionState.InProgress, StepExecutionState.Skipped),
    ];

    private static IEnumerable<TestCaseData> EveryWorkflowPair() =>
        from source in Enum.GetValues<WorkflowState>()
        from target in Enum.GetValues<WorkflowState>()
        select new TestCaseData(source, target, AllowedWorkflow.Contains((source, target)));

    private static IEnumerable<TestCaseData> EveryStepPair() =>
        from source in Enum.GetValues<StepExecutionState>()
        from target in Enum.GetValues<StepExecutionState>()
        select new TestCaseData(source, target, AllowedStep.Contains((source, target)));

    [TestCaseSource(nameof(EveryWorkflowPair))]
    public void WorkflowTransition_IsAllowedOnlyWhenListed(WorkflowState from, WorkflowState to, bool allowed)
    {
        if (allowed)
        {
            Assert.DoesNotThrow(() => StateTransitions.EnsureAllowed(from, to));
            return;
        }

        var error = Assert.Throws<InvalidStateTransitionException>(() => StateTransitions.EnsureAllowed(from, to))!;
        Assert.That(error.Message, Is.EqualTo($"Cannot transition workflow from '{from.ToStored()}' to '{to.ToStored()}'"));
    }

    [TestCaseSource(nameof(EveryStepPair))]
    public void StepTransition_IsAllowedOnlyWhenListed(StepExecutionState from, StepExecutionState to, bool allowed)
    {
        if (allowed)
        {
            Assert.DoesNotThrow(() => StateTransitions.EnsureAllowed(from, to));
            return;
        }

        var error = Assert.Throws<InvalidStateTransitionException>(() => StateTransitions.EnsureAllowed(from, to))!;
        Assert.That(error.Message, Is.EqualTo($"Cannot transition step execution from '{from.ToStored()}' to '{to.ToStored()}'"));
    }

    [Test]
    public void StepExecution_FromInProgressToCompleted_UsesTheStoredNames()
    {
        var error = Assert.Throws<InvalidStateTransitionException>(
            () => StateTransitions.EnsureAllowed(StepExecutionState.Completed, StepExecutionState.InProgress))!;

        Assert.That(error.Message, Is.EqualTo("Cannot transition step execution from 'completed' to 'in_progress'"));
    }

    [Test]
    public void TerminalStates_AreExactlyTheOnesWithoutExits()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Enum.GetValues<WorkflowState>().Where(StateTransitions.IsTerminal),
                Is.EquivalentTo(new[] { WorkflowState.Finished, WorkflowState.Canceled }));
            Assert.That(Enum.GetValues<StepExecutionState>().Where(StateTransitions.IsTerminal),
                Is.EquivalentTo(new[]
                {
                    StepExecutionState.Completed, StepExecutionState.Failed, StepExecutionState.Canceled, StepExecutionState.Skipped,
                }));
            Assert.That(StateTransitions.OngoingWorkflowStates,
                Is.EquivalentTo(new[] { WorkflowState.Ready, WorkflowState.Performing, WorkflowState.Paused }));
            Assert.That(StateTransitions.ActiveStepExecutionStates,
                Is.EquivalentTo(new[] { StepExecutionState.Scheduled, StepExecutionState.InProgress }));
        });
    }

    [Test]
    public void StoredNames_RoundTrip()
    {
        Assert.Multiple(() =>
        {
            foreach (var state in Enum.GetValues<WorkflowState>())
            {
                Assert.That(StateNames.ParseWorkflowState(state.ToStored()), Is.EqualTo(state));
            }

            foreach (var state in Enum.GetValues<StepExecutionState>())
            {
                Assert.That(StateNames.ParseStepExecutionState(state.ToStored()), Is.EqualTo(state));
            }

            foreach (var outcome in Enum.GetValues<StepOutcome>())
            {
                Assert.That(StateNames.ParseOutcome(outcome.ToStored()), Is.EqualTo(outcome));
            }

            Assert.That(StepExecutionState.InProgress.ToStored(), Is.EqualTo("in_progress"));
            Assert.That(StepOutcome.WorkflowPaused.ToStored(), Is.EqualTo("workflow_paused"));
        });
    }

    [Test]
    public void UnknownStoredName_FailsListingKnownValues()
    {
        var error = Assert.Throws<FormatException>(() => StateNames.ParseWorkflowState("sleeping"))!;

        Assert.That(error.Message, Does.Contain("'sleeping' is not a known workflow state").And.Contain("ready, performing"));
    }
}
