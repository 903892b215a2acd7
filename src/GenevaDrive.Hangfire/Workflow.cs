namespace GenevaDrive;

/// <summary>
/// The non-generic base of every workflow. Derive from <see cref="Workflow{THero}"/> instead.
/// </summary>
public abstract class Workflow
{
    private object? _hero;
    private bool _heroLoaded;

    private protected Workflow()
    {
    }

    /// <summary>The id of the workflow instance this object runs a step for (0 while definitions are validated).</summary>
    protected internal long WorkflowId { get; internal set; }

    /// <summary>
    /// The step run in progress: names, the attempt's id and its <see cref="StepContext.FencingToken"/>.
    /// Null outside a step run (e.g. while definitions are validated).
    /// </summary>
    protected internal StepContext? CurrentStep { get; internal set; }

    internal abstract Type HeroType { get; }

    /// <summary>Reads the events this workflow received; set by the engine for a step run.</summary>
    internal Func<string, CancellationToken, Task<string?>>? EventPayloads { get; set; }

    /// <summary>
    /// The payload of the event <paramref name="eventName"/> this workflow received: the one the current step's wait
    /// took, or else the latest one an earlier step's wait took. <see langword="default"/> when none was taken (the
    /// wait timed out and went on), or when the event carried no payload.
    /// </summary>
    /// <typeparam name="TPayload">The payload type, read with System.Text.Json.</typeparam>
    /// <param name="eventName">The event's name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The payload, or <see langword="default"/>.</returns>
    /// <exception cref="InvalidOperationException">Called outside a step run.</exception>
    protected async Task<TPayload?> ReceivedEventAsync<TPayload>(string eventName, CancellationToken cancellationToken = default)
    {
        var read = EventPayloads ?? throw new InvalidOperationException(
            $"ReceivedEventAsync(\"{eventName}\") can only be called while a step of workflow {GetType().Name} runs.");
        var json = await read(eventName, cancellationToken).ConfigureAwait(false);
        return json is null ? default : System.Text.Json.JsonSerializer.Deserialize<TPayload>(json);
    }

    /// <summary>The workflow whose <c>StartChildren</c> step started this one; null for a top-level workflow.</summary>
    protected internal long? ParentWorkflowId { get; internal set; }

    /// <summary>The store this workflow's children and result are read from and written to; set by the engine for a step run.</summary>
    internal Store.WorkflowStore? Store { get; set; }

    /// <summary>The longest result (as JSON) a workflow may record.</summary>
    internal const int MaxResultJsonLength = 4000;

    /// <summary>
    /// The children the step <paramref name="startedBy"/> started, oldest first: each one's state (finished, canceled, paused,
    /// still running), why it is paused or canceled, and the result it recorded.
    /// </summary>
    /// <param name="startedBy">The name of this workflow's <c>StartChildren</c> step.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The children's outcomes.</returns>
    /// <exception cref="InvalidOperationException">Called outside a step run.</exception>
    protected Task<IReadOnlyList<ChildOutcome>> ChildrenAsync(string startedBy, CancellationToken cancellationToken = default) =>
        (Store ?? throw new InvalidOperationException(
            $"ChildrenAsync(\"{startedBy}\") can only be called while a step of workflow {GetType().Name} runs.")).GetChildOutcomesAsync(WorkflowId, startedBy, cancellationToken);

    /// <summary>
    /// Records a small result (at most 4,000 characters of JSON, written with System.Text.Json) for this workflow's parent to
    /// read from <see cref="ChildOutcome.Result{TResult}"/>. A later call replaces it; a step that runs again records it again.
    /// </summary>
    /// <typeparam name="TResult">The result's type.</typeparam>
    /// <param name="result">The result.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the result is saved.</returns>
    /// <exception cref="ArgumentException">The result's JSON is longer than 4,000 characters.</exception>
    /// <exception cref="InvalidOperationException">Called outside a step run.</exception>
    protected Task RecordResultAsync<TResult>(TResult result, CancellationToken cancellationToken = default)
    {
        var store = Store ?? throw new InvalidOperationException(
            $"RecordResultAsync can only be called while a step of workflow {GetType().Name} runs.");
        var json = System.Text.Json.JsonSerializer.Serialize(result);
        if (json.Length > MaxResultJsonLength)
        {
            throw new ArgumentException(
                $"The result of workflow {GetType().Name} is {json.Length} characters of JSON; the limit is {MaxResultJsonLength}. Record a summary or a key " +
                "to the full result kept elsewhere.", nameof(result));
        }

        return store.RecordResultAsync(WorkflowId, json, cancellationToken);
    }

    internal abstract void DefineSteps(WorkflowBuilder builder);

    internal void SetHero(object? hero)
    {
        if (hero is not null && !HeroType.IsInstanceOfType(hero))
        {
            throw new ArgumentException(
                $"The hero of workflow {GetType().Name} must be a {HeroType.FullName}, but the loader returned a {hero.GetType().FullName}.",
                nameof(hero));
        }

        _hero = hero;
        _heroLoaded = true;
    }

    private protected object? HeroObject => _hero;

    private protected bool HeroLoaded => _heroLoaded;

    /// <summary>The step is done; continue with the next step.</summary>
    /// <returns>The completed result.</returns>
    protected static StepResult Completed() => StepResult.Completed();

    /// <summary>Cancel the workflow.</summary>
    /// <returns>The cancel result.</returns>
    protected static StepResult Cancel() => StepResult.Cancel();

    /// <summary>Pause the workflow; resuming it runs this step again.</summary>
    /// <returns>The pause result.</returns>
    protected static StepResult Pause() => StepResult.Pause();

    /// <summary>Skip this step and continue with the next one.</summary>
    /// <returns>The skip result.</returns>
    protected static StepResult Skip() => StepResult.Skip();

    /// <summary>Finish the workflow now without running the remaining steps.</summary>
    /// <returns>The finished result.</returns>
    protected static StepResult Finished() => StepResult.Finished();

    /// <summary>Run this step again, now or after <paramref name="wait"/>. Never counts toward a reattempt limit.</summary>
    /// <param name="wait">The wait before the next attempt.</param>
    /// <returns>The reattempt result.</returns>
    protected static StepResult Reattempt(TimeSpan? wait = null) => StepResult.Reattempt(wait);
}

/// <summary>
/// A durable workflow about a hero of type <typeparamref name="THero"/>. Override <see cref="Define"/> to
/// declare the steps. The class is constructed through dependency injection for every step run, so step
/// bodies may use injected services, <see cref="Hero"/> and instance methods directly.
/// </summary>
/// <typeparam name="THero">The record the workflow is about, loaded before each step.</typeparam>
/// <remarks>
/// <see cref="Define"/> must declare the same shape (step names, order, waits, options) on every instance:
/// it is validated once per type at start-up and each run is checked against it. A workflow derived from
/// another workflow calls <c>base.Define(steps)</c> first and then adds its own steps, conditions and
/// policies; what it adds takes precedence over what the parent declared.
/// </remarks>
public abstract class Workflow<THero> : Workflow
    where THero : class
{
    /// <summary>
    /// The hero this workflow is about.
    /// </summary>
    /// <exception cref="HeroMissingException">
    /// The workflow may proceed without its hero, and the hero was deleted: a condition reading it does not hold,
    /// a body reading it fails (read <see cref="HeroOrDefault"/> where the step can do without it).
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// The hero is not loaded: inside <see cref="Define"/> (which must not depend on the hero).
    /// </exception>
    protected THero Hero => HeroOrDefault ?? (HeroLoaded
        ? throw new HeroMissingException(GetType().Name, WorkflowId)
        : throw new InvalidOperationException(
            $"The hero of workflow {GetType().Name} is not loaded yet. Read Hero inside step bodies and conditions, not in Define: the shape of Define must not depend on the hero."));

    /// <summary>The hero, or <see langword="null"/> when it is not loaded or no longer exists.</summary>
    protected THero? HeroOrDefault => (THero?)HeroObject;

    internal sealed override Type HeroType => typeof(THero);

    internal sealed override void DefineSteps(WorkflowBuilder builder) => Define(builder);

    /// <summary>Declares the steps, conditions, policies, hooks and options of this workflow.</summary>
    /// <param name="steps">The builder to declare with.</param>
    protected abstract void Define(WorkflowBuilder steps);
}
