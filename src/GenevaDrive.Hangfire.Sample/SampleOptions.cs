using System.Globalization;

namespace GenevaDrive.Sample;

/// <summary>The sample's command line: <c>--port</c>, <c>--storage</c>, <c>--connection</c>, <c>--data</c>, <c>--demo-seconds</c>, <c>--telemetry</c>.</summary>
internal sealed record SampleOptions
{
    public int Port { get; init; } = 5000;

    public string Storage { get; init; } = "sqlite";

    public string? Connection { get; init; }

    public string DataDirectory { get; init; } = Path.Combine(Directory.GetCurrentDirectory(), "data");

    public int? DemoSeconds { get; init; }

    /// <summary>Where OpenTelemetry traces and metrics go: <c>none</c> (the default), <c>console</c> or <c>otlp</c> (OTEL_EXPORTER_OTLP_ENDPOINT).</summary>
    public string Telemetry { get; init; } = "none";

    public const string Usage =
        "usage: dotnet run --project src/GenevaDrive.Hangfire.Sample [-- --port 5000] [--storage sqlite|postgresql|sqlserver --connection \"...\"] " +
        "[--data ./data] [--demo-seconds N] [--telemetry none|console|otlp]";

    public static SampleOptions Parse(string[] args)
    {
        var options = new SampleOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. {Usage}");
            options = args[i] switch
            {
                "--port" => options with { Port = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--storage" => options with { Storage = Value().ToLowerInvariant() },
                "--connection" => options with { Connection = Value() },
                "--data" => options with { DataDirectory = Path.GetFullPath(Value()) },
                "--demo-seconds" => options with { DemoSeconds = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--telemetry" => options with { Telemetry = Value().ToLowerInvariant() },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. {Usage}"),
            };
        }

        if (options.Storage is not ("sqlite" or "postgresql" or "sqlserver"))
        {
            throw new ArgumentException($"--storage must be sqlite, postgresql or sqlserver; given '{options.Storage}'. {Usage}");
        }

        if (options.Telemetry is not ("none" or "console" or "otlp"))
        {
            throw new ArgumentException($"--telemetry must be none, console or otlp; given '{options.Telemetry}'. {Usage}");
        }

        if (options.Storage != "sqlite" && string.IsNullOrWhiteSpace(options.Connection))
        {
            throw new ArgumentException($"--storage {options.Storage} needs --connection \"<connection string>\". {Usage}");
        }

        return options;
    }
}
