namespace GenevaDrive.Soak;

/// <summary>
/// The system clock with its wall-clock time moved by a fixed offset, as on a machine whose clock is off:
/// only <see cref="GetUtcNow"/> is skewed. Timers, timestamps and the time zone stay the system's, so delays
/// and measured durations are unchanged.
/// </summary>
internal sealed class SkewedTimeProvider(TimeSpan offset) : TimeProvider
{
    public TimeSpan Offset => offset;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
}
