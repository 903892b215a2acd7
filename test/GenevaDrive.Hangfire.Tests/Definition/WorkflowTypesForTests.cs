namespace GenevaDrive.Tests.Definition;

public class ParentWorkflow : Workflow<User>
{
    public static readonly ExceptionPolicy ParentBlanket = ExceptionPolicy.Reattempt(maxReattempts: 2);
    public static readonly ExceptionPolicy ParentSpecific = ExceptionPolicy.Reattempt(maxReattempts: 3);

    protected override void Define(WorkflowBuilder steps)
    {
        steps.CancelIf(() => Hero.IsDeactivated);
        steps.OnException(ParentBlanket);
        steps.OnException<TimeoutException>(ParentSpecific);
        steps.UseQueue("parent_queue");
        steps.Step("parent_first", () => Task.CompletedTask);
        steps.Step("parent_last", () => Task.CompletedTask);
    }
}

public sealed class ChildWorkflow : ParentWorkflow
{
    public static readonly ExceptionPolicy ChildBlanket = ExceptionPolicy.Reattempt(maxReattempts: 4);
    public static readonly ExceptionPolicy ChildSpecific = ExceptionPolicy.Reattempt(maxReattempts: 5);

    protected override void Define(WorkflowBuilder steps)
    {
        base.Define(steps);
        steps.CancelIf(() => Hero.Email.EndsWith("@blocked.example", StringComparison.Ordinal));
        steps.OnException(ChildBlanket);
        steps.OnException<ArgumentException>(ChildSpecific);
        steps.MayProceedWithoutHero();
        steps.UseQueue("child_queue");
        steps.Step("child_before", () => Task.CompletedTask, beforeStep: "parent_first");
        steps.Step("child_after", () => Task.CompletedTask, afterStep: "parent_last");
        steps.Step("child_middle", () => Task.CompletedTask, afterStep: "parent_first");
    }
}

public sealed class ChildRedefiningParentStep : ParentWorkflow
{
    protected override void Define(WorkflowBuilder steps)
    {
        base.Define(steps);
        steps.Step("parent_first", () => Task.CompletedTask);
    }
}

/// <summary>Records which instance ran each step, to prove delegates are bound per instance.</summary>
public sealed class InstanceTrackingWorkflow : Workflow<User>
{
    private static int s_created;

    public InstanceTrackingWorkflow()
    {
        Number = Interlocked.Increment(ref s_created);
    }

    public int Number { get; }

    public List<string> Log { get; } = [];

    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("record", () =>
        {
            Log.Add($"instance {Number} saw {Hero.Email}");
            return Task.CompletedTask;
        });
        steps.Step(RecordAgainAsync);
    }

    private Task RecordAgainAsync()
    {
        Log.Add($"method on instance {Number}");
        return Task.CompletedTask;
    }
}

/// <summary>Declares a different number of steps on every instance: a shape that must be refused.</summary>
public sealed class UnstableShapeWorkflow : Workflow<User>
{
    private static int s_created;
    private readonly int _number = Interlocked.Increment(ref s_created);

    protected override void Define(WorkflowBuilder steps)
    {
        for (var i = 0; i < _number; i++)
        {
            steps.Step($"s{i}", () => Task.CompletedTask);
        }
    }
}

public sealed class HeroInDefineWorkflow : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps)
    {
        if (Hero.IsDeactivated)
        {
            steps.Step("never", () => Task.CompletedTask);
        }
    }
}

public sealed class ThrowingDefineWorkflow : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) => throw new NotSupportedException("no definition today");
}

public sealed class BrokenWorkflowA : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("x", () => Task.CompletedTask).Step("x", () => Task.CompletedTask);
}

public sealed class BrokenWorkflowB : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("y", () => Task.CompletedTask, wait: TimeSpan.FromDays(-1));
}

[WorkflowName("signup-v1")]
public sealed class RenamedWorkflow : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) => steps.Step("only", () => Task.CompletedTask);
}

[WorkflowName("signup-v1")]
public sealed class ClashingNameWorkflow : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) => steps.Step("only", () => Task.CompletedTask);
}

public abstract class AbstractWorkflow : Workflow<User>;

public interface IGreeter
{
    Task GreetAsync(string email, CancellationToken ct);
}

public sealed class InjectedWorkflow(IGreeter greeter) : Workflow<User>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("greet", ct => greeter.GreetAsync(Hero.Email, ct));
}

/// <summary>A workflow whose Define changes one part of its shape when told to (instances built after the change).</summary>
public sealed class VaryingShapeWorkflow : Workflow<User>
{
    public static string Vary { get; set; } = "none";

    protected override void Define(WorkflowBuilder steps)
    {
        var v = Vary;
        if (v == "queue")
        {
            steps.UseQueue("other");
        }

        if (v == "cancelIf")
        {
            steps.CancelIf(() => false);
        }

        if (v == "classPolicy")
        {
            steps.OnException<TimeoutException>(ExceptionPolicy.Cancel);
        }

        if (v == "hook")
        {
            steps.BeforeEachStep((_, _) => Task.CompletedTask);
        }

        if (v == "withoutHero")
        {
            steps.MayProceedWithoutHero();
        }

        steps.Step("first", () => Task.CompletedTask, wait: v == "wait" ? TimeSpan.FromMinutes(2) : TimeSpan.FromMinutes(1),
            skipIf: v == "condition" ? () => false : null, onException: v == "policy" ? ExceptionPolicy.Cancel : null);
        steps.WaitFor("approved", v == "timeout" ? TimeSpan.FromHours(2) : TimeSpan.FromHours(1), v == "onTimeout" ? WaitTimeout.Cancel : WaitTimeout.Pause);
        steps.Step(v == "name" ? "renamed" : "last", () => Task.CompletedTask, afterStep: v == "order" ? "first" : null);
    }
}
