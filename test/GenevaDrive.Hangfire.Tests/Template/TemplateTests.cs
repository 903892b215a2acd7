using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GenevaDrive.Tests.Template;

/// <summary>
/// The <c>dotnet new genevadrive</c> template as a new user meets it: installed from the packed template package,
/// instantiated, restored against the packed GenevaDrive packages (from a packages folder of its own, so nothing cached
/// stands in for them), its own test run, and the app started: a workflow started over HTTP shows in the dashboard.
/// <c>build.ps1 test</c> packs the packages first and names the folder in <c>GENEVADRIVE_TEST_PACKAGES</c>.
/// </summary>
[NonParallelizable]
public sealed class TemplateTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(8);

    private string _work = null!;

    [SetUp]
    public void SetUp() => _work = Path.Combine(Path.GetTempPath(), $"genevadrive-template-{Guid.NewGuid():N}");

    [TearDown]
    public void TearDown()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the app that just stopped; the temporary folder is left for the system to clear.
        }
    }

    [Test]
    public async Task TheTemplate_BuildsAndPassesItsTest_AndItsAppShowsAStartedWorkflowInTheDashboard()
    {
        var feed = Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_PACKAGES");
        if (string.IsNullOrEmpty(feed))
        {
            Assert.Ignore("The template test needs the packed packages: run `dotnet pwsh ./build.ps1 test` (it packs them), or run " +
                          "`dotnet pack GenevaDrive.Hangfire.sln -c Release -o <folder>` and set GENEVADRIVE_TEST_PACKAGES to that folder.");
        }

        var template = Directory.EnumerateFiles(feed, "GenevaDrive.Hangfire.Templates.*.nupkg").Single();
        var hive = Path.Combine(_work, "hive");
        var app = Path.Combine(_work, "MyApp");
        await RunAsync(_work, "new", "install", template, "--debug:custom-hive", hive);
        await RunAsync(_work, "new", "genevadrive", "-o", app, "--debug:custom-hive", hive);
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"),
            $"""<?xml version="1.0" encoding="utf-8"?><configuration><packageSources><add key="genevadrive-packed" value="{feed}" /></packageSources></configuration>""");

        var tested = await RunAsync(app, "test", "MyApp.Tests");
        var (status, started, listed) = await StartAndWatchAsync(Path.Combine(app, "MyApp", "bin", "Debug", "net10.0", "MyApp.dll"));

        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllText(Path.Combine(app, "MyApp", "Program.cs")), Does.Contain("using MyApp;"),
                "the project is named after the -o folder");
            Assert.That(tested, Does.Contain("Passed!").And.Contain("Passed:     1"), "the template's own test ran and passed");
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), started);
            Assert.That(started, Does.Contain("\"state\":\"Ready\""));
            Assert.That(listed, Does.Contain(">welcome<"), "the started workflow is listed on the dashboard's Workflows page");
        });
    }

    [Test]
    public void TheTemplatesPackageReferences_AreThisBuildsVersion()
    {
        var root = GenevaDrive.Tests.Layout.RepositoryPaths.Root();
        var version = System.Xml.Linq.XDocument.Load(Path.Combine(root, "Directory.Build.props")).Descendants("Version").First().Value;
        var references = Directory.EnumerateFiles(Path.Combine(root, "src", "GenevaDrive.Hangfire.Templates", "content"), "*.csproj", SearchOption.AllDirectories)
            .SelectMany(csproj => System.Xml.Linq.XDocument.Load(csproj).Descendants("PackageReference"))
            .Where(reference => reference.Attribute("Include")!.Value.StartsWith("GenevaDrive.", StringComparison.Ordinal))
            .Select(reference => (Package: reference.Attribute("Include")!.Value, Version: reference.Attribute("Version")!.Value))
            .ToList();

        Assert.Multiple(() =>
        {
            Assert.That(references.Select(r => r.Package), Is.EquivalentTo(new[] { "GenevaDrive.Hangfire", "GenevaDrive.Hangfire.Sqlite", "GenevaDrive.Hangfire.Testing" }));
            Assert.That(references.Where(r => r.Version != version), Is.Empty, $"the template must reference this build's version, {version}");
        });
    }

    /// <summary>Starts the app on a free port, starts a workflow over HTTP, and reads the Workflows page (each wait bounded).</summary>
    private async Task<(HttpStatusCode Status, string Started, string Listed)> StartAndWatchAsync(string dll)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet", [dll]) { WorkingDirectory = Path.GetDirectoryName(dll)!, RedirectStandardOutput = true, RedirectStandardError = true };
        Clean(start);
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        using var process = Process.Start(start)!;
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            var ready = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    if ((await http.GetAsync("/health")).StatusCode == HttpStatusCode.OK)
                    {
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                if (ready.Elapsed > TimeSpan.FromSeconds(60) || process.HasExited)
                {
                    Assert.Fail($"The app did not answer /health within 60 s:\n{log}");
                }

                await Task.Delay(250);
            }

            using var response = await http.PostAsync("/users/ada", null);
            var started = await response.Content.ReadAsStringAsync();
            var listed = await http.GetStringAsync("/hangfire/genevadrive/workflows");
            return (response.StatusCode, started, listed);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private async Task<string> RunAsync(string directory, params string[] arguments)
    {
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("dotnet", arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        Clean(start);
        // Its own packages folder: a GenevaDrive package of the same version cached earlier must not stand in for the packed one.
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_work, "packages");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"`dotnet {string.Join(' ', arguments)}` did not end within {CommandTimeout}.");
        }

        var text = await output + await error;
        Assert.That(process.ExitCode, Is.Zero, $"`dotnet {string.Join(' ', arguments)}` failed:\n{text}");
        return text;
    }

    /// <summary>The outer test run's MSBuild and test-host variables would steer the inner builds; they start clean.</summary>
    private static void Clean(ProcessStartInfo start)
    {
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) ||
                                                              k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) ||
                                                              k.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase) ||
                                                              k.Equals("DOTNET_HOST_PATH", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
