using Microsoft.Extensions.Logging;

namespace GenevaDrive.Soak;

/// <summary>
/// A worker's GenevaDrive log (Information and up) on standard output, which the coordinator keeps in the
/// worker's log file: heartbeat failures, fences, takeovers and reconciles, stamped with the real UTC time.
/// </summary>
internal sealed class StdoutLoggerFactory : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new StdoutLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("The soak worker's log writes to standard output only.");

    public void Dispose()
    {
    }

    private sealed class StdoutLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var error = exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]";
            Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{error}");
        }
    }
}
