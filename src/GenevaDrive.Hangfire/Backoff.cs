using System.Globalization;

namespace GenevaDrive;

/// <summary>
/// How long to wait before each exception-caused reattempt of a step, from the number of that reattempt
/// (1 for the first; the consecutive count the engine keeps for <see cref="ExceptionPolicy.MaxReattempts"/>).
/// Use it with <see cref="ExceptionPolicy.Reattempt(Backoff, int?, TerminalAction, bool)"/>. Values are validated when
/// the policy is attached to a step or workflow.
/// </summary>
public sealed class Backoff
{
    private readonly BackoffKind _kind;
    private readonly TimeSpan _initial;
    private readonly TimeSpan _increment;
    private readonly double _factor;
    private readonly TimeSpan? _max;
    private readonly bool _jitter;

    private Backoff(BackoffKind kind, TimeSpan initial, TimeSpan increment, double factor, TimeSpan? max, bool jitter)
    {
        _kind = kind;
        _initial = initial;
        _increment = increment;
        _factor = factor;
        _max = max;
        _jitter = jitter;
    }

    private enum BackoffKind
    {
        Fixed,
        Linear,
        Exponential,
        DecorrelatedJitter,
    }

    /// <summary>The same wait before every reattempt.</summary>
    /// <param name="delay">The wait; zero or more.</param>
    /// <param name="jitter">Spread each wait randomly over its upper half (between 50% and 100% of it).</param>
    /// <returns>The backoff.</returns>
    public static Backoff Fixed(TimeSpan delay, bool jitter = false) => new(BackoffKind.Fixed, delay, TimeSpan.Zero, 1, null, jitter);

    /// <summary>A wait that grows by a step each time: initial, initial + increment, initial + 2 × increment, …</summary>
    /// <param name="initial">The first wait; positive.</param>
    /// <param name="increment">How much each wait adds; zero or more. The default is <paramref name="initial"/>.</param>
    /// <param name="max">The longest wait; null for no cap.</param>
    /// <param name="jitter">Spread each wait randomly over its upper half.</param>
    /// <returns>The backoff.</returns>
    public static Backoff Linear(TimeSpan initial, TimeSpan? increment = null, TimeSpan? max = null, bool jitter = false) =>
        new(BackoffKind.Linear, initial, increment ?? initial, 1, max, jitter);

    /// <summary>A wait that multiplies each time: initial, initial × factor, initial × factor², …, up to <paramref name="max"/>.</summary>
    /// <param name="initial">The first wait; positive.</param>
    /// <param name="factor">The multiplier; at least 1. The default is 2.</param>
    /// <param name="max">The longest wait; null for no cap.</param>
    /// <param name="jitter">Spread each wait randomly over its upper half, so many failing steps do not retry in step.</param>
    /// <returns>The backoff.</returns>
    public static Backoff Exponential(TimeSpan initial, double factor = 2, TimeSpan? max = null, bool jitter = false) =>
        new(BackoffKind.Exponential, initial, TimeSpan.Zero, factor, max, jitter);

    /// <summary>
    /// Decorrelated jitter: each wait is drawn between <paramref name="initial"/> and three times the previous
    /// one, capped at <paramref name="max"/> — waits grow roughly exponentially while staying spread out. The
    /// sequence is drawn once per workflow and step, so a reattempt's wait does not change when it is recomputed.
    /// </summary>
    /// <param name="initial">The shortest wait; positive.</param>
    /// <param name="max">The longest wait.</param>
    /// <returns>The backoff.</returns>
    public static Backoff DecorrelatedJitter(TimeSpan initial, TimeSpan max) =>
        new(BackoffKind.DecorrelatedJitter, initial, TimeSpan.Zero, 3, max, jitter: false);

    /// <summary>The wait before reattempt number <paramref name="reattempt"/> (1 for the first).</summary>
    /// <param name="reattempt">The consecutive exception-caused reattempt this wait precedes; at least 1.</param>
    /// <param name="seed">Makes random choices repeatable (the engine passes one per workflow and step).</param>
    /// <returns>The wait.</returns>
    public TimeSpan DelayFor(int reattempt, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(reattempt, 1);
        var random = new Random(HashCode.Combine(seed, reattempt));
        double ticks = _kind switch
        {
            BackoffKind.Fixed => _initial.Ticks,
            BackoffKind.Linear => _initial.Ticks + ((double)_increment.Ticks * (reattempt - 1)),
            BackoffKind.Exponential => _initial.Ticks * Math.Pow(_factor, reattempt - 1),
            _ => Decorrelated(reattempt, seed),
        };
        if (_max is { } max)
        {
            ticks = Math.Min(ticks, max.Ticks);
        }

        if (_jitter)
        {
            ticks *= 0.5 + (0.5 * random.NextDouble());
        }

        return TimeSpan.FromTicks((long)Math.Min(ticks, TimeSpan.MaxValue.Ticks / 2.0));
    }

    private double Decorrelated(int reattempt, int seed)
    {
        var random = new Random(seed);
        double previous = _initial.Ticks;
        var cap = (double)(_max ?? TimeSpan.MaxValue).Ticks;
        for (var i = 1; i < reattempt; i++)
        {
            previous = Math.Min(cap, _initial.Ticks + (random.NextDouble() * ((previous * _factor) - _initial.Ticks)));
        }

        return previous;
    }

    /// <summary>A stable description, shown in diagnostics and results.</summary>
    /// <returns>For example <c>exponential(initial 00:00:05, ×2, max 01:00:00, jitter)</c>.</returns>
    public override string ToString()
    {
        var max = _max is { } m ? $", max {m}" : string.Empty;
        var jitter = _jitter ? ", jitter" : string.Empty;
        return _kind switch
        {
            BackoffKind.Fixed => $"fixed({_initial}{jitter})",
            BackoffKind.Linear => $"linear(initial {_initial}, +{_increment}{max}{jitter})",
            BackoffKind.Exponential => $"exponential(initial {_initial}, ×{_factor.ToString(CultureInfo.InvariantCulture)}{max}{jitter})",
            _ => $"decorrelated-jitter(initial {_initial}{max})",
        };
    }

    /// <summary>Lists every rule this backoff breaks, as sentences completing "has a backoff that …".</summary>
    internal IEnumerable<string> Problems()
    {
        if (_kind == BackoffKind.Fixed ? _initial < TimeSpan.Zero : _initial <= TimeSpan.Zero)
        {
            yield return $"starts at {_initial}; use a {(_kind == BackoffKind.Fixed ? "wait of zero or more" : "positive initial wait")}";
        }

        if (_increment < TimeSpan.Zero)
        {
            yield return $"grows by {_increment}, which is negative; use zero or more";
        }

        if (_kind == BackoffKind.Exponential && (double.IsNaN(_factor) || _factor < 1))
        {
            yield return $"multiplies by {_factor.ToString(CultureInfo.InvariantCulture)}; use a factor of at least 1";
        }

        if (_max is { } max && max < _initial)
        {
            yield return $"caps at {max}, below its initial wait {_initial}; use a max of at least the initial wait";
        }
    }
}
