using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace GenevaDrive.Benchmarks;

/// <summary>
/// One worker process of the scale-out benchmark ("scaleout-worker &lt;connection&gt; &lt;run&gt; &lt;variant&gt;"): a Hangfire
/// server with <see cref="Rig.Workers"/> workers and a <see cref="Rig.Poll"/> queue poll on the run's shared Hangfire schema,
/// with GenevaDrive registered exactly as <see cref="Rig"/> registers it for the genevadrive variant. Prints READY once
/// Hangfire lists the server (its workers are polling then) and runs until its standard input closes or it is killed.
/// </summary>
internal static class ScaleOutWorker
{
    public const string ReadyLine = "READY";

    public static async Task<int> RunAsync(string postgres, string run, string variant)
    {
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(new SilentLogProvider());
        var services = new ServiceCollection();
        services.AddSingleton<BenchProbe>();
        // The parent created the schema; the workers only use it.
        var options = new PostgreSqlStorageOptions { SchemaName = "hfb_" + run, QueuePollInterval = Rig.Poll, PrepareSchemaIfNecessary = false };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(postgres, options), options);
        services.AddSingleton<JobStorage>(storage);
        if (variant == "genevadrive")
        {
            services.AddGenevaDrive(o =>
            {
                o.UsePostgreSql(postgres, s => s.SchemaName = "gdb_" + run);
                o.AddWorkflow<FourStepWorkflow>().AddWorkflow<ChainWorkflow>()
                    .AddHero<BenchHero>(h => h.Id, (_, id, _) => Task.FromResult<BenchHero?>(new BenchHero(id)));
            });
            services.AddHangfire((sp, config) => config.UseGenevaDrive(sp));
        }
        else
        {
            services.AddHangfire(_ => { });
        }

        await using var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            // GenevaDrive's start-up: validate the workflows (the schema is there already).
            await hosted.StartAsync(CancellationToken.None);
        }

        var name = $"scaleout-{Environment.ProcessId}";
        using var server = new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                WorkerCount = Rig.Workers,
                SchedulePollingInterval = TimeSpan.FromSeconds(1),
                FilterProvider = provider.GetRequiredService<Hangfire.Common.IJobFilterProvider>(),
                Activator = new Hangfire.AspNetCore.AspNetCoreJobActivator(provider.GetRequiredService<IServiceScopeFactory>()),
                ServerName = name,
            },
            storage);

        // Hangfire names the server "<name>:<guid>" once it has announced itself.
        var waited = Stopwatch.StartNew();
        while (!storage.GetMonitoringApi().Servers().Any(s => s.Name.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)))
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(1))
            {
                await Console.Error.WriteLineAsync($"server {name} did not announce itself within a minute");
                return 1;
            }

            await Task.Delay(50);
        }

        Console.WriteLine(ReadyLine);
        // The parent holds our standard input open: it closes when the parent exits, even when it crashes.
        await Console.In.ReadToEndAsync();
        server.SendStop();
        return 0;
    }
}

/// <summary>A worker process started by the parent: its READY signal, the tail of its output, and killing it.</summary>
internal sealed class ScaleOutChild : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ScaleOutChild(Process process) => _process = process;

    /// <summary>Completes when the process prints READY; fails when it exits first.</summary>
    public Task Ready => _ready.Task;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ScaleOutChild Start(string postgres, string run, string variant)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(ScaleOutWorker).Assembly.Location);
        info.ArgumentList.Add("scaleout-worker");
        info.ArgumentList.Add(postgres);
        info.ArgumentList.Add(run);
        info.ArgumentList.Add(variant);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ScaleOutChild(process);
        process.OutputDataReceived += (_, e) => child.Receive(e.Data, fromOutput: true);
        process.ErrorDataReceived += (_, e) => child.Receive(e.Data, fromOutput: false);
        process.Exited += (_, _) => child._ready.TrySetException(new InvalidOperationException(child.Describe()));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Why it is gone: its exit code and the last lines it wrote.</summary>
    public string Describe()
    {
        var code = _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none yet";
        return $"worker process {_process.Id} exited (code {code}); its last output:\n  " + string.Join("\n  ", _tail);
    }

    private void Receive(string? line, bool fromOutput)
    {
        if (line is null)
        {
            return;
        }

        if (fromOutput && line == ScaleOutWorker.ReadyLine)
        {
            _ready.TrySetResult();
            return;
        }

        _tail.Enqueue(line);
        while (_tail.Count > 40 && _tail.TryDequeue(out _))
        {
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }

        _process.Dispose();
    }
}
