using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Definition;

/// <summary>Why a resumable step's attempt ended at a checkpoint.</summary>
internal enum Suspension
{
    /// <summary>The step's time slice (<c>maxRunTime</c>) was used up: the worker is handed back and the step continues in a new job.</summary>
    TimeSlice,

    /// <summary>The run was stopped from outside (shutdown, abort, lost lease, pause or cancel): the attempt is interrupted.</summary>
    Stopped,

    /// <summary>The checkpoint was refused: this run no longer holds the lease, and nothing it does is recorded.</summary>
    Refused,
}

/// <summary>A cursor as JSON (the JSON text <c>null</c> is a cursor too, so "nothing to save" is a null <see cref="CursorJson"/>).</summary>
internal sealed record CursorJson(string? Json);

/// <summary>Ends a resumable step's attempt at a checkpoint; the executor turns it into the attempt's outcome.</summary>
internal sealed class StepSuspendedException(Suspension suspension, string message) : Exception(message)
{
    public Suspension Suspension { get; } = suspension;
}

/// <summary>
/// The engine's side of one attempt of a resumable step: where the saved cursor stands, the lease-fenced
/// checkpoint write, and the conditions that end the attempt at a checkpoint.
/// </summary>
internal sealed class ResumableRun
{
    public const int MaxCursorJsonLength = 4000;

    private readonly WorkflowStore _store;
    private readonly long _executionId;
    private readonly string _leaseToken;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset? _sliceEnds;
    private readonly TimeSpan _checkpointEvery;
    private readonly CancellationToken _stop;
    private DateTimeOffset _lastSaved;
    private int _checkpoints;

    public ResumableRun(WorkflowStore store, long executionId, string leaseToken, string stepName, string? startCursorJson,
        TimeProvider time, TimeSpan? maxRunTime, TimeSpan checkpointEvery, CancellationToken stop)
    {
        _store = store;
        _executionId = executionId;
        _leaseToken = leaseToken;
        StepName = stepName;
        StartCursorJson = startCursorJson;
        _time = time;
        _lastSaved = time.GetUtcNow();
        _sliceEnds = maxRunTime is { } slice ? _lastSaved + slice : null;
        _checkpointEvery = checkpointEvery;
        _stop = stop;
    }

    public string StepName { get; }

    /// <summary>For a <c>StartChildren</c> step: starts the children (set by the executor).</summary>
    public Execution.ChildRuntime? Children { get; set; }

    /// <summary>The cursor this attempt started from (JSON), or null on a first run.</summary>
    public string? StartCursorJson { get; }

    public int Checkpoints => Volatile.Read(ref _checkpoints);

    /// <summary>Set when the attempt ended at a checkpoint (even if user code swallowed the exception).</summary>
    public Suspension? Suspended { get; private set; }

    /// <summary>
    /// The cursor the iteration moved past its last save, read when the attempt ends: the engine saves it with the
    /// attempt's close (same transaction, same lease check), so a finished item stays counted however the attempt ends.
    /// </summary>
    public Func<CursorJson?>? UnsavedCursor { get; set; }

    public bool TimeSliceUsedUp => _sliceEnds is { } ends && _time.GetUtcNow() >= ends;

    public bool CheckpointDue() => _time.GetUtcNow() - _lastSaved >= _checkpointEvery;

    public async Task SaveAsync(string? cursorJson, CancellationToken ct)
    {
        if (Suspended == Suspension.Refused)
        {
            throw Refused();
        }

        if (!await _store.CheckpointAsync(_executionId, _leaseToken, cursorJson, ct).ConfigureAwait(false))
        {
            Suspended = Suspension.Refused;
            throw Refused();
        }

        _lastSaved = _time.GetUtcNow();
        Interlocked.Increment(ref _checkpoints);
    }

    /// <summary>Throws to end the attempt when the run must stop; returns when it may go on.</summary>
    public void StopIfRequested()
    {
        if (_stop.IsCancellationRequested)
        {
            Suspended = Suspension.Stopped;
            throw new StepSuspendedException(Suspension.Stopped,
                $"Resumable step '{StepName}' stopped at a checkpoint: the run was stopped from outside.");
        }

        if (TimeSliceUsedUp)
        {
            Suspended = Suspension.TimeSlice;
            throw new StepSuspendedException(Suspension.TimeSlice,
                $"Resumable step '{StepName}' used up its time slice and yields its worker at a checkpoint.");
        }
    }

    private StepSuspendedException Refused() => new(Suspension.Refused,
        $"The checkpoint of resumable step '{StepName}' (step execution {_executionId}) was refused: this run no longer holds its lease " +
        "(the step was taken over, or the attempt was closed); it stops and records nothing.");
}
