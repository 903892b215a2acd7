using GenevaDrive.Definition;

namespace GenevaDrive.Tests.Definition;

public sealed class User
{
    public required string Email { get; init; }

    public bool IsDeactivated { get; init; }
}

/// <summary>Builds definitions of ad-hoc workflows declared by a lambda, without a registry.</summary>
internal static class Definitions
{
    public static WorkflowDefinition Of(Action<WorkflowBuilder> define, string name = "TestWorkflow")
    {
        var builder = new WorkflowBuilder(name);
        define(builder);
        return builder.Build(typeof(InlineWorkflow), typeof(User));
    }

    public static StepConfigurationException Fails(Action<WorkflowBuilder> define, string name = "TestWorkflow") =>
        Assert.Throws<StepConfigurationException>(() => Of(define, name))!;

    public static string[] Order(Action<WorkflowBuilder> define) => Of(define).Steps.Names.ToArray();

    public static Task<StepResult> Run(this StepDefinition step) => step.Body(CancellationToken.None);

    private sealed class InlineWorkflow : Workflow<User>
    {
        protected override void Define(WorkflowBuilder steps)
        {
        }
    }
}
