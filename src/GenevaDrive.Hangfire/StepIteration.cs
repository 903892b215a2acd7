using System.Text.Json;
using GenevaDrive.Definition;

namespace GenevaDrive;

/// <summary>
/// The run of a resumable step (<see cref="WorkflowBuilder.ResumableStep{TCursor}(string, Func{StepIteration{TCursor}, CancellationToken, Task}, TimeSpan?, TimeSpan?, TimeSpan?, Func{bool}?, Func{bool}?, ExceptionPolicy?, string?, string?, string, int)"/>):
/// where the work stands (<see cref="Cursor"/>), and the checkpoints that save it.
/// <para>
/// A checkpoint writes the cursor to the step's current execution (one short statement, accepted only while
/// this run still holds the lease) and then checks whether the run must stop: the Hangfire server is
/// shutting down, the lease was lost, the workflow was paused or canceled, or the step's time slice
/// (<c>maxRunTime</c>) is used up. If so, the attempt ends there, cleanly, and the next attempt — a new step
/// execution — starts from the saved cursor.
/// </para>
/// <para>
/// A crash between two checkpoints repeats the work done since the last one: that is the at-least-once
/// boundary. Make the work per item idempotent, or checkpoint after each item.
/// </para>
/// </summary>
/// <typeparam name="TCursor">
/// Where the work stands: any type System.Text.Json serializes and reads back with its default options — a
/// number, a string, a <see cref="DateTimeOffset"/>, or a record of such values (e.g. the last key of a
/// keyset-paged query). Keep it small: its JSON may be at most <see cref="MaxCursorJsonLength"/> characters.
/// </typeparam>
public sealed class StepIteration<TCursor>
{
    /// <summary>The largest cursor, as JSON, that a checkpoint saves.</summary>
    public const int MaxCursorJsonLength = ResumableRun.MaxCursorJsonLength;

    private readonly ResumableRun _run;
    private string? _savedJson;
    private bool _dirty;

    internal StepIteration(ResumableRun run)
    {
        _run = run;
        _savedJson = run.StartCursorJson;
        Cursor = run.StartCursorJson is null ? default : Deserialize(run.StartCursorJson, run.StepName);
        run.UnsavedCursor = UnsavedCursorJson;
    }

    /// <summary>The engine's side of this attempt.</summary>
    internal ResumableRun Run => _run;

    /// <summary>Where the work stands: the cursor saved by the last checkpoint of an earlier attempt, or <see langword="default"/> on the first run.</summary>
    public TCursor? Cursor { get; private set; }

    /// <summary>True when this attempt started from a cursor saved by an earlier one (after a crash, a deploy, a pause or a time slice).</summary>
    public bool Resumed => _run.StartCursorJson is not null;

    /// <summary>How many checkpoints this attempt has saved so far.</summary>
    public int Checkpoints => _run.Checkpoints;

    /// <summary>
    /// Moves the cursor without saving it. The next checkpoint saves it; so does the end of this attempt, whatever
    /// ends it (a stop, an exception, a time slice), unless the run lost its lease.
    /// </summary>
    /// <param name="cursor">Where the work now stands.</param>
    public void SetCursor(TCursor cursor)
    {
        Cursor = cursor;
        _dirty = true;
    }

    /// <summary>Moves the cursor and saves it in a checkpoint (see <see cref="CheckpointAsync"/>).</summary>
    /// <param name="cursor">Where the work now stands.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when the cursor is saved; it ends the attempt (by throwing) when the run must stop.</returns>
    public Task SetCursorAsync(TCursor cursor, CancellationToken ct = default)
    {
        SetCursor(cursor);
        return CheckpointAsync(ct);
    }

    /// <summary>
    /// Saves the cursor (when it moved since the last save), then ends the attempt when the run must stop.
    /// Ending is done by throwing an exception that GenevaDrive handles: do not catch it (a body that swallows
    /// it is still stopped when it returns, but its work after the checkpoint is not saved).
    /// </summary>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when the cursor is saved and the run may go on.</returns>
    public async Task CheckpointAsync(CancellationToken ct = default)
    {
        await SaveAsync(force: true, ct).ConfigureAwait(false);
        _run.StopIfRequested();
    }

    /// <summary>
    /// Runs <paramref name="action"/> for each item of <paramref name="items"/>, moving the cursor to
    /// <paramref name="cursorOf"/>(item) after each one. The cursor is saved at most every <c>checkpointEvery</c>
    /// of the step (and always before the attempt stops); the run stops between items when it must. On a
    /// resumed attempt, <paramref name="items"/> must already start after <see cref="Cursor"/> (build the
    /// sequence from it).
    /// </summary>
    /// <typeparam name="TItem">The item type.</typeparam>
    /// <param name="items">The items after the cursor.</param>
    /// <param name="cursorOf">The cursor that stands after an item (its key, its index…).</param>
    /// <param name="action">The work for one item; it receives the step's token.</param>
    /// <param name="ct">The step's token.</param>
    /// <returns>A task that completes when every item was done.</returns>
    public async Task ForEachAsync<TItem>(IAsyncEnumerable<TItem> items, Func<TItem, TCursor> cursorOf,
        Func<TItem, CancellationToken, Task> action, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(cursorOf);
        ArgumentNullException.ThrowIfNull(action);
        await foreach (var item in items.WithCancellation(ct).ConfigureAwait(false))
        {
            await DoItemAsync(item, cursorOf, action, ct).ConfigureAwait(false);
        }

        await SaveAsync(force: false, ct, final: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Works through a keyset-paged source: asks <paramref name="nextPage"/> for the items after the cursor
    /// (<see langword="default"/> on the first page), runs <paramref name="action"/> for each, moves the cursor to
    /// <paramref name="cursorOf"/>(item), and stops when a page comes back empty. Checkpoints and stops as
    /// <see cref="ForEachAsync{TItem}"/> does.
    /// </summary>
    /// <typeparam name="TItem">The item type.</typeparam>
    /// <param name="nextPage">Loads the page after a cursor, e.g. <c>WHERE Id &gt; @after ORDER BY Id LIMIT 500</c>.</param>
    /// <param name="cursorOf">The cursor that stands after an item (its key).</param>
    /// <param name="action">The work for one item; it receives the step's token.</param>
    /// <param name="ct">The step's token.</param>
    /// <returns>A task that completes when a page came back empty.</returns>
    public async Task ForEachPageAsync<TItem>(Func<TCursor?, CancellationToken, Task<IReadOnlyList<TItem>>> nextPage,
        Func<TItem, TCursor> cursorOf, Func<TItem, CancellationToken, Task> action, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(nextPage);
        ArgumentNullException.ThrowIfNull(cursorOf);
        ArgumentNullException.ThrowIfNull(action);
        while (true)
        {
            var page = await nextPage(Cursor, ct).ConfigureAwait(false);
            if (page is null || page.Count == 0)
            {
                break;
            }

            foreach (var item in page)
            {
                await DoItemAsync(item, cursorOf, action, ct).ConfigureAwait(false);
            }
        }

        await SaveAsync(force: false, ct, final: true).ConfigureAwait(false);
    }

    private async Task DoItemAsync<TItem>(TItem item, Func<TItem, TCursor> cursorOf, Func<TItem, CancellationToken, Task> action,
        CancellationToken ct)
    {
        // An item that throws (or is cancelled) is not done: the cursor stays before it and it runs again.
        await action(item, ct).ConfigureAwait(false);

        // The item returned, so it is done. Its cursor moves here, in memory and without an await in between, so
        // no stop can split "returned" from "counted": whatever ends the attempt from now on (a stop, a cancelled
        // save, an exception in the next item or in the source), the engine saves this cursor when it closes the
        // attempt, in the same transaction and under the same lease.
        SetCursor(cursorOf(item));
        _run.StopIfRequested();
        await SaveAsync(force: false, ct).ConfigureAwait(false);
    }

    private async Task SaveAsync(bool force, CancellationToken ct, bool final = false)
    {
        if (!_dirty && !force)
        {
            return;
        }

        if (!force && !final && !_run.CheckpointDue())
        {
            return;
        }

        var json = _dirty ? Serialize(Cursor, _run.StepName) : _savedJson;
        await _run.SaveAsync(json, ct).ConfigureAwait(false);
        _savedJson = json;
        _dirty = false;
    }

    /// <summary>The cursor moved since the last save, as JSON; null when there is nothing to save.</summary>
    private CursorJson? UnsavedCursorJson() => _dirty ? new CursorJson(Serialize(Cursor, _run.StepName)) : null;

    private static string Serialize(TCursor? cursor, string stepName)
    {
        string json;
        try
        {
            json = JsonSerializer.Serialize(cursor);
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException)
        {
            throw new InvalidOperationException(
                $"The cursor of resumable step '{stepName}' ({typeof(TCursor).FullName}) cannot be serialized with System.Text.Json ({e.Message}); use a number, a string or a record of such values.",
                e);
        }

        if (json.Length > MaxCursorJsonLength)
        {
            throw new InvalidOperationException(
                $"The cursor of resumable step '{stepName}' is {json.Length} characters of JSON; the limit is {MaxCursorJsonLength}. " +
                "Keep only where the work stands (the last key or index), not the data itself.");
        }

        return json;
    }

    private static TCursor? Deserialize(string json, string stepName)
    {
        try
        {
            return JsonSerializer.Deserialize<TCursor>(json);
        }
        catch (Exception e) when (e is NotSupportedException or JsonException)
        {
            throw new InvalidOperationException(
                $"The saved cursor of resumable step '{stepName}' ({json}) cannot be read as {typeof(TCursor).FullName}: {e.Message} " +
                "A changed cursor type needs a new step name, or Reattempt(rewind: true) to start over.", e);
        }
    }
}

/// <summary>Cursor arithmetic for resumable steps that count.</summary>
public static class StepIterationExtensions
{
    /// <summary>Adds <paramref name="by"/> to an integer cursor and saves it in a checkpoint.</summary>
    /// <param name="iteration">The iteration.</param>
    /// <param name="by">How far to advance; the default is 1.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when the cursor is saved; it ends the attempt when the run must stop.</returns>
    public static Task AdvanceAsync(this StepIteration<int> iteration, int by = 1, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(iteration);
        return iteration.SetCursorAsync(iteration.Cursor + by, ct);
    }

    /// <summary>Adds <paramref name="by"/> to a long cursor and saves it in a checkpoint.</summary>
    /// <param name="iteration">The iteration.</param>
    /// <param name="by">How far to advance; the default is 1.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when the cursor is saved; it ends the attempt when the run must stop.</returns>
    public static Task AdvanceAsync(this StepIteration<long> iteration, long by = 1, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(iteration);
        return iteration.SetCursorAsync(iteration.Cursor + by, ct);
    }
}
