using System.Runtime.CompilerServices;
using GenevaDrive.Definition;
using GenevaDrive.Store;

namespace GenevaDrive;

// Fan-out and fan-in: a step that starts one child workflow per hero, and a step that waits for them.
public sealed partial class WorkflowBuilder
{
    /// <summary>The default number of children one transaction starts (and one checkpoint counts).</summary>
    public const int DefaultChildBatchSize = 100;

    /// <summary>The most children one transaction may start.</summary>
    internal const int MaxChildBatchSize = 1000;

    private string? _lastStartChildren;

    /// <summary>
    /// Declares a step that starts one child workflow of type <typeparamref name="TChild"/> for each hero
    /// <paramref name="heroes"/> yields (in a stable order), in batches of <paramref name="batchSize"/>, each one transaction
    /// followed by a checkpoint. The step is resumable: after a crash, a deploy or a time slice it goes on after the last
    /// checkpoint, and a child the interrupted batch already started is found, not started twice (one child per hero per
    /// step, held by a unique index). Each child is an ordinary workflow about its own hero, knows its parent, and shows
    /// on the parent's dashboard page. Wait for them with <see cref="WaitForChildren"/>.
    /// </summary>
    /// <typeparam name="TChild">The child workflow type (registered like any workflow).</typeparam>
    /// <typeparam name="TChildHero">The child's hero type.</typeparam>
    /// <param name="name">The step name; it names the children's group, so it must be stable across deployments.</param>
    /// <param name="heroes">The children's heroes, in the same order on every call (the cursor counts them).</param>
    /// <param name="cancelWithParent">Canceling the parent cancels its ongoing children (the default); false leaves them running.</param>
    /// <param name="batchSize">How many children one transaction starts (1 to 1000; <see cref="DefaultChildBatchSize"/> by default).</param>
    /// <param name="maxRunTime">The step's time slice (see <see cref="ResumableStep{TCursor}(string, Func{StepIteration{TCursor}, CancellationToken, Task}, TimeSpan?, TimeSpan?, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>).</param>
    /// <param name="wait">How long to wait after the previous step before this one runs.</param>
    /// <param name="skipIf">Skip the step when this returns true.</param>
    /// <param name="onException">The step's exception policy.</param>
    /// <param name="beforeStep">Place this step just before an already declared step.</param>
    /// <param name="afterStep">Place this step just after an already declared step.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder StartChildren<TChild, TChildHero>(string name, Func<CancellationToken, IAsyncEnumerable<TChildHero>> heroes,
        bool cancelWithParent = true, int batchSize = DefaultChildBatchSize, TimeSpan? maxRunTime = null, TimeSpan? wait = null,
        Func<bool>? skipIf = null, ExceptionPolicy? onException = null, string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
        where TChild : Workflow<TChildHero>
        where TChildHero : class
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        if (heroes is null)
        {
            return Fail(name, source, "StartChildren needs the children's heroes; pass a function that yields them, e.g. ct => db.InvoicesOf(Hero, ct)");
        }

        if (batchSize is < 1 or > MaxChildBatchSize)
        {
            return Fail(name, source, $"batchSize is {batchSize}; give 1 to {MaxChildBatchSize} children per transaction, or leave it out for {DefaultChildBatchSize}");
        }

        if (name is not null)
        {
            _lastStartChildren = name;
        }

        return AddResumable<int>(name!, heroes, async (iteration, ct) =>
        {
            var children = iteration.Run.Children ?? throw new InvalidOperationException(
                $"StartChildren step '{iteration.Run.StepName}' runs only inside GenevaDrive's engine (a Hangfire server or WorkflowTestHost).");
            var started = iteration.Cursor;
            var seen = 0;
            var batch = new List<TChildHero>(batchSize);
            await foreach (var hero in heroes(ct).WithCancellation(ct).ConfigureAwait(false))
            {
                if (seen++ < started)
                {
                    continue;
                }

                batch.Add(hero);
                if (batch.Count == batchSize)
                {
                    await children.StartAsync(typeof(TChild), batch, ct).ConfigureAwait(false);
                    started += batch.Count;
                    batch.Clear();
                    await iteration.SetCursorAsync(started, ct).ConfigureAwait(false);
                }
            }

            if (batch.Count > 0)
            {
                await children.StartAsync(typeof(TChild), batch, ct).ConfigureAwait(false);
                // Saved with the attempt's close, in finalize's transaction.
                iteration.SetCursor(started + batch.Count);
            }

            return StepResult.Completed();
        }, maxRunTime, TimeSpan.Zero, wait, skipIf, null, onException, beforeStep, afterStep, sourceFile, sourceLine, cancelWithParent);
    }

    /// <summary>Declares a step that starts one child per hero of a list or any other sequence.</summary>
    /// <inheritdoc cref="StartChildren{TChild, TChildHero}(string, Func{CancellationToken, IAsyncEnumerable{TChildHero}}, bool, int, TimeSpan?, TimeSpan?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    public WorkflowBuilder StartChildren<TChild, TChildHero>(string name, Func<CancellationToken, IEnumerable<TChildHero>> heroes,
        bool cancelWithParent = true, int batchSize = DefaultChildBatchSize, TimeSpan? maxRunTime = null, TimeSpan? wait = null,
        Func<bool>? skipIf = null, ExceptionPolicy? onException = null, string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
        where TChild : Workflow<TChildHero>
        where TChildHero : class =>
        StartChildren<TChild, TChildHero>(name, heroes is null ? null! : ct => Async(heroes(ct)), cancelWithParent, batchSize, maxRunTime, wait,
            skipIf, onException, beforeStep, afterStep, sourceFile, sourceLine);

    private static async IAsyncEnumerable<T> Async<T>(IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            yield return item;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>
    /// Declares a step that waits for the children a <see cref="StartChildren{TChild, TChildHero}(string, Func{CancellationToken, IAsyncEnumerable{TChildHero}}, bool, int, TimeSpan?, TimeSpan?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>
    /// step started: <see cref="ChildrenWait.All"/> to end, <see cref="ChildrenWait.Any"/> one or <see cref="ChildrenWait.AtLeast"/>
    /// N to finish. No job polls: the child whose end decides the wait wakes the parent in its own transaction (counted in
    /// the database, once even when children end at the same moment). Later steps read the children's outcomes and results
    /// with <c>ChildrenAsync</c>.
    /// </summary>
    /// <param name="until">How many children the wait needs.</param>
    /// <param name="timeout">How long to wait (positive).</param>
    /// <param name="onTimeout">What happens when the children do not decide the wait in time (<see cref="WaitTimeout.Pause"/> by default).</param>
    /// <param name="startedBy">The <c>StartChildren</c> step whose children to wait for; by default the last one declared before this step.</param>
    /// <param name="onChildCanceled">What a canceled child means (<see cref="ChildTrouble.Ignore"/> or <see cref="ChildTrouble.FailWait"/>).</param>
    /// <param name="onChildPaused">What a paused child means (<see cref="ChildTrouble.Ignore"/>: the timeout decides; <see cref="ChildTrouble.FailWait"/>; <see cref="ChildTrouble.PauseParent"/>).</param>
    /// <param name="name">The step's name; the default is <c>wait_for_{startedBy}</c>.</param>
    /// <param name="skipIf">Skip the wait when this returns true.</param>
    /// <param name="beforeStep">Place this step just before an already declared step.</param>
    /// <param name="afterStep">Place this step just after an already declared step.</param>
    /// <param name="sourceFile">Filled in by the compiler.</param>
    /// <param name="sourceLine">Filled in by the compiler.</param>
    /// <returns>This builder.</returns>
    public WorkflowBuilder WaitForChildren(ChildrenWait until, TimeSpan timeout, WaitTimeout onTimeout = WaitTimeout.Pause, string? startedBy = null,
        ChildTrouble onChildCanceled = ChildTrouble.Ignore, ChildTrouble onChildPaused = ChildTrouble.Ignore, string? name = null,
        Func<bool>? skipIf = null, string? beforeStep = null, string? afterStep = null,
        [CallerFilePath] string sourceFile = "", [CallerLineNumber] int sourceLine = 0)
    {
        var source = new SourceLocation(sourceFile, sourceLine);
        var group = startedBy ?? _lastStartChildren;
        var stepName = name ?? (group is null ? null : $"wait_for_{group}");
        if (group is null)
        {
            return Fail(stepName, source, "WaitForChildren has no StartChildren step to wait for; declare one before it, or name it with startedBy");
        }

        if (!_byName.TryGetValue(group, out var starter) || starter.CancelChildrenWithParent is null)
        {
            return Fail(stepName, source, $"startedBy names '{group}', which is not a StartChildren step declared before this one (declared so far: {DeclaredNames()})");
        }

        if (until is null)
        {
            return Fail(stepName, source, "WaitForChildren needs a requirement: ChildrenWait.All, ChildrenWait.Any or ChildrenWait.AtLeast(n)");
        }

        if (timeout <= TimeSpan.Zero)
        {
            return Fail(stepName, source, $"WaitForChildren's timeout is {timeout}, which is not positive; give how long to wait, e.g. TimeSpan.FromDays(1)");
        }

        if (!Enum.IsDefined(onTimeout) || !Enum.IsDefined(onChildCanceled) || !Enum.IsDefined(onChildPaused))
        {
            return Fail(stepName, source, "onTimeout, onChildCanceled or onChildPaused is not a defined value; use the enums' named members");
        }

        if (onChildCanceled == ChildTrouble.PauseParent)
        {
            return Fail(stepName, source, "onChildCanceled is PauseParent, but a canceled child cannot be resumed; use ChildTrouble.FailWait (the wait fails) or Ignore");
        }

        var gate = new ChildrenGate(group, until, onChildCanceled, onChildPaused);
        return Add(stepName, (Func<Task<StepResult>>)NoBody, _ => Task.FromResult(StepResult.Completed()), null, skipIf, null, null,
            beforeStep, afterStep, sourceFile, sourceLine, waitEvent: gate.EventName, waitTimeout: timeout, onTimeout: onTimeout, children: gate);
    }
}
