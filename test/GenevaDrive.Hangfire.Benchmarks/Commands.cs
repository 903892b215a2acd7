using System.Diagnostics.Metrics;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// Counts the commands Npgsql sends, from its own <c>db.client.operation.duration</c> instrument: each command (a batch
/// of statements included) is one round trip, for Hangfire.PostgreSql and GenevaDrive alike.
/// </summary>
internal static class Commands
{
    private static long s_count;
    private static MeterListener? s_listener;

    public static long Count => Interlocked.Read(ref s_count);

    public static void Start()
    {
        if (s_listener is not null)
        {
            return;
        }

        s_listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Npgsql" && instrument.Name == "db.client.operation.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        s_listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref s_count));
        s_listener.Start();
    }
}
