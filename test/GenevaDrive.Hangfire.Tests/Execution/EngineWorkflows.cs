using System.Collections.Concurrent;

namespace GenevaDrive.Tests.Execution;

public sealed class Account
{
    public required string Id { get; init; }

    public bool Closed { get; set; }

    public bool Vip { get; set; }
}

/// <summary>The application's accounts, as the hero loader sees them.</summary>
public sealed class AccountDirectory
{
    private readonly ConcurrentDictionary<string, Account> _accounts = new();

    public Account Add(string id)
    {
        var account = new Account { Id = id };
        _accounts[id] = account;
        return account;
    }

    public void Delete(string id) => _accounts.TryRemove(id, out _);

    public Task<Account?> FindAsync(string id) => Task.FromResult(_accounts.GetValueOrDefault(id));
}

/// <summary>Records what workflows did and tells them when to fail.</summary>
public sealed class Probe
{
    private readonly ConcurrentQueue<string> _events = new();
    private readonly ConcurrentDictionary<string, int> _failuresLeft = new();

    public IReadOnlyList<string> Events => _events.ToArray();

    /// <summary>Completed when a blocking step starts.</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Func<bool> SkipCondition { get; set; } = () => false;

    public Func<bool> CancelCondition { get; set; } = () => false;

    public Func<StepResult> Result { get; set; } = StepResult.Completed;

    /// <summary>How many children a fan-out workflow starts.</summary>
    public int ChildCount { get; set; } = 3;

    /// <summary>What a child's step returns, by the child's hero id (a fan-out's children).</summary>
    public Func<string, StepResult> ChildResult { get; set; } = _ => StepResult.Completed();

    /// <summary>Called after each item of a resumable step's iteration (to move the clock, stop the run, pause…).</summary>
    public Func<int, CancellationToken, Task>? OnItem { get; set; }

    /// <summary>The contexts the steps ran with.</summary>
    public ConcurrentQueue<StepContext> Contexts { get; } = new();

    /// <summary>Why a blocking step's token fired, as the step read it.</summary>
    public ConcurrentQueue<StepStopReason> StopReasons { get; } = new();

    public void Record(string evt) => _events.Enqueue(evt);

    public void FailTimes(string step, int times) => _failuresLeft[step] = times;

    public void MaybeFail(string step)
    {
        if (_failuresLeft.TryGetValue(step, out var left) && left > 0)
        {
            _failuresLeft[step] = left - 1;
            throw new TimeoutException($"{step} timed out");
        }
    }
}

[WorkflowName("three_steps")]
public sealed class ThreeStepWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("first", () => { probe.Record($"first:{Hero.Id}"); return Task.CompletedTask; });
        steps.Step("second", () => { probe.Record("second"); return Task.CompletedTask; }, wait: TimeSpan.FromHours(2));
        steps.Step("third", () => { probe.Record("third"); return Task.CompletedTask; }, wait: TimeSpan.FromDays(1));
    }
}

/// <summary>The middle step returns whatever the probe says.</summary>
[WorkflowName("flow_control")]
public sealed class FlowControlWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("before", () => { probe.Record("before"); return Task.CompletedTask; });
        steps.Step("decide", () => { probe.Record("decide"); return probe.Result(); });
        steps.Step("after", () => { probe.Record("after"); return Task.CompletedTask; });
    }
}

/// <summary>"charge" fails as often as the probe says, with a limited reattempt policy.</summary>
[WorkflowName("payment")]
public sealed class PaymentWorkflow(Probe probe) : Workflow<Account>
{
    public const int MaxReattempts = 3;

    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("charge", () => { probe.Record("charge"); probe.MaybeFail("charge"); return Task.CompletedTask; },
            onException: ExceptionPolicy.Reattempt(TimeSpan.FromMinutes(5), MaxReattempts));
        steps.Step("receipt", () => { probe.Record("receipt"); return Task.CompletedTask; });
    }
}

[WorkflowName("payment_cancel_terminal")]
public sealed class CancelAfterRetriesWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("charge", () => { probe.MaybeFail("charge"); return Task.CompletedTask; },
            onException: ExceptionPolicy.Reattempt(maxReattempts: 2, terminalAction: TerminalAction.Cancel));
}

/// <summary>Conditions come from the probe; conditions may throw.</summary>
[WorkflowName("conditional")]
public sealed class ConditionalWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.CancelIf(() => Hero.Closed);
        steps.CancelIf(() => probe.CancelCondition());
        steps.OnException<InvalidOperationException>(ExceptionPolicy.Reattempt(maxReattempts: 2));
        steps.Step("maybe", () => { probe.Record("maybe"); return Task.CompletedTask; }, skipIf: () => probe.SkipCondition());
        steps.Step("vip_only", () => { probe.Record("vip_only"); return Task.CompletedTask; }, onlyIf: () => Hero.Vip);
        steps.Step("last", () => { probe.Record("last"); return Task.CompletedTask; });
    }
}

[WorkflowName("policies")]
public sealed class PolicyWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.OnException(ExceptionPolicy.Cancel);
        steps.OnException<TimeoutException>(ExceptionPolicy.Skip);
        steps.Step("timeout", () => Task.FromException(new TimeoutException("slow")));
        steps.Step("handled", () => Task.FromException(new FormatException("bad input")),
            onException: ExceptionPolicy.Handle(e => e is FormatException ? StepResult.Reattempt(TimeSpan.FromSeconds(30)) : null));
        steps.Step("boom", () => { probe.Record("boom"); return Task.FromException(new ArgumentException("boom")); });
    }
}

[WorkflowName("handler_gives_up")]
public sealed class HandlerGivesUpWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps) =>
        steps.Step("only", () => Task.FromException(new InvalidDataException("corrupt")), onException: ExceptionPolicy.Handle(_ => null));
}

[WorkflowName("hooks")]
public sealed class HookWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.BeforeEachStep((ctx, ct) => { probe.Record($"before {ctx.StepName}"); return Task.CompletedTask; });
        steps.AroundEachStep(async (ctx, next) => { probe.Record("around in"); await next(); probe.Record("around out"); });
        steps.AfterEachStep((ctx, ct) => { probe.Record($"after {ctx.StepName}"); return Task.CompletedTask; });
        steps.Step("works", () => { probe.Record("body works"); return Task.CompletedTask; });
        steps.Step("fails", () => { probe.Record("body fails"); return Task.FromException(new InvalidOperationException("no")); });
    }
}

[WorkflowName("heroless")]
public sealed class HerolessWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.MayProceedWithoutHero();
        steps.Step("notice", () => { probe.Record($"hero is {(HeroOrDefault is null ? "gone" : "here")}"); return Task.CompletedTask; });
    }
}

[WorkflowName("empty")]
public sealed class EmptyWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
    }
}

[WorkflowName("forever")]
public sealed class ForeverWorkflow : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps) => steps.Step("poll", () => StepResult.Reattempt(TimeSpan.FromMinutes(1)));
}

/// <summary>A step that runs until its token fires, recording its fencing token and how it ended.</summary>
[WorkflowName("blocking")]
public sealed class BlockingWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("block", async ct =>
        {
            probe.Record($"block started {CurrentStep!.FencingToken}");
            probe.Started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                probe.StopReasons.Enqueue(CurrentStep!.StopReason);
                probe.Record("block canceled");
                throw;
            }
        }, onException: ExceptionPolicy.Cancel);
        steps.Step("after", () => { probe.Record("after"); return Task.CompletedTask; });
    }
}

/// <summary>"charge" fails as often as the probe says; reattempts wait by an exponential backoff.</summary>
[WorkflowName("backoff_payment")]
public sealed class BackoffPaymentWorkflow(Probe probe) : Workflow<Account>
{
    protected override void Define(WorkflowBuilder steps)
    {
        steps.Step("charge", () => { probe.MaybeFail("charge"); return Task.CompletedTask; },
            onException: ExceptionPolicy.Reattempt(Backoff.Exponential(initial: TimeSpan.FromSeconds(10), max: TimeSpan.FromSeconds(30)), maxReattempts: 5));
        steps.Step("receipt", () => Task.CompletedTask);
    }
}
