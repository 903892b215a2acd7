using Microsoft.Playwright;

namespace GenevaDrive.Tests.Sample;

/// <summary>
/// Debian's Chromium for the browser tests, or the browser named by GENEVADRIVE_TEST_CHROMIUM (e.g. a CI runner's
/// Chrome). Without one a test is ignored with the fix, and fails when CI=true (.ci/run installs it).
/// </summary>
internal static class HeadlessChromium
{
    private static readonly string Path =
        Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_CHROMIUM") is { Length: > 0 } configured ? configured : "/usr/bin/chromium";

    /// <summary>Ignores (or on CI fails) the calling test when no browser is installed.</summary>
    public static void Require()
    {
        if (File.Exists(Path))
        {
            return;
        }

        var message = $"The browser test needs Chromium at {Path}: run 'apt-get install chromium', or set GENEVADRIVE_TEST_CHROMIUM to a Chromium or Chrome executable.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + " CI=true, so this is a failure (.ci/run installs it).");
        }

        Assert.Ignore(message);
    }

    /// <summary>Launches it headless, without the background connections a closed network refuses.</summary>
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = Path,
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}
