using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GenevaDrive.Tests.Sample;

/// <summary>Runs the built sample app (src/GenevaDrive.Hangfire.Sample) as a separate process on a free loopback port.</summary>
internal sealed class SampleProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();

    private SampleProcess(Process process, int port, string dataDirectory)
    {
        Process = process;
        Port = port;
        DataDirectory = dataDirectory;
    }

    public Process Process { get; }

    public int Port { get; }

    public string DataDirectory { get; }

    /// <summary>Keep the data folder when this process is disposed (a restart reuses it).</summary>
    public bool KeepData { get; set; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string SampleDll()
    {
        // …/test/GenevaDrive.Hangfire.Tests/bin/<Configuration>/net10.0 → the sample's output of the same configuration.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = testBin.Parent!.Name;
        var root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "GenevaDrive.Hangfire.sln")))
        {
            root = root.Parent;
        }

        var dll = Path.Combine(root!.FullName, "src", "GenevaDrive.Hangfire.Sample", "bin", configuration, "net10.0", "GenevaDrive.Hangfire.Sample.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build the solution first; the sample is expected at {dll}.");
    }

    public static SampleProcess Start(params string[] extraArgs) =>
        StartIn(Directory.CreateTempSubdirectory("genevadrive-sample-").FullName, extraArgs);

    /// <summary>Starts the sample on the data folder of an earlier run (its SQLite files), as a restart would.</summary>
    public static SampleProcess StartIn(string data, params string[] extraArgs)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { SampleDll(), "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", data }.Concat(extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        var sample = new SampleProcess(Process.Start(info)!, port, data);
        sample.Process.OutputDataReceived += (_, e) => sample.Append(e.Data);
        sample.Process.ErrorDataReceived += (_, e) => sample.Append(e.Data);
        sample.Process.BeginOutputReadLine();
        sample.Process.BeginErrorReadLine();
        return sample;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (Process.HasExited || DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The sample did not print '{text}' (exited: {Process.HasExited}). Output:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        Process.Dispose();
        if (KeepData)
        {
            return;
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file may still be held for a moment after the kill; the temp folder is cleaned by the OS.
        }
    }
}
