using Microsoft.Playwright;

namespace GenevaDrive.Tests.Sample;

/// <summary>
/// A person's view: headless Chromium opens the running sample's Workflows page, finds a paused demo
/// workflow, clicks Resume and sees the state change. Needs Debian's chromium (apt-get install chromium).
/// </summary>
[NonParallelizable]
public sealed class DashboardBrowserTests
{
    /// <summary>Debian's Chromium, or the browser named by GENEVADRIVE_TEST_CHROMIUM (e.g. a CI runner's Chrome).</summary>
    private static readonly string ChromiumPath =
        Environment.GetEnvironmentVariable("GENEVADRIVE_TEST_CHROMIUM") is { Length: > 0 } configured ? configured : "/usr/bin/chromium";

    [Test]
    public async Task ResumingAPausedWorkflowFromTheDashboard_ChangesItsState()
    {
        if (!File.Exists(ChromiumPath))
        {
            var message = $"The browser test needs Chromium at {ChromiumPath}: run 'apt-get install chromium', or set GENEVADRIVE_TEST_CHROMIUM to a Chromium or Chrome executable.";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail(message + " CI=true, so this is a failure (.ci/run installs it).");
            }

            Assert.Ignore(message);
        }

        await using var sample = SampleProcess.Start();
        await sample.WaitForOutputAsync("Dashboard: http://127.0.0.1:", TimeSpan.FromSeconds(60));
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var artifacts = Path.Combine(TestContext.CurrentContext.WorkDirectory, "browser");
        Directory.CreateDirectory(artifacts);

        await page.GotoAsync($"{sample.BaseUrl}/hangfire/genevadrive/workflows");
        var list = await page.ContentAsync();
        Assert.That(list, Does.Contain("onboarding").And.Contain("payment").And.Contain("trial").And.Contain("subscription"));

        // The flaky card pauses its payment workflow after three reattempts (a few seconds).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        ILocator paused;
        while (true)
        {
            await page.GotoAsync($"{sample.BaseUrl}/hangfire/genevadrive/workflows?state=paused");
            paused = page.Locator("table.genevadrive-workflows tbody tr a").First;
            if (await paused.CountAsync() > 0)
            {
                break;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "no demo workflow paused in time");
            await Task.Delay(1000);
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflows-paused.png"), FullPage = true });
        await paused.ClickAsync();
        await page.Locator(".genevadrive-state").WaitForAsync();
        var before = await page.Locator(".genevadrive-state").InnerTextAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflow-paused.png"), FullPage = true });

        await page.Locator("button.genevadrive-resume").ClickAsync();
        await page.WaitForFunctionAsync("() => document.querySelector('.genevadrive-state') && document.querySelector('.genevadrive-state').innerText !== 'paused'",
            null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        var after = await page.Locator(".genevadrive-state").InnerTextAsync();

        // The card works on the next attempt, so the workflow runs to its end.
        var finishDeadline = DateTime.UtcNow.AddSeconds(30);
        while (after != "finished" && DateTime.UtcNow < finishDeadline)
        {
            await Task.Delay(1000);
            await page.ReloadAsync();
            after = await page.Locator(".genevadrive-state").InnerTextAsync();
        }

        var screenshot = Path.Combine(artifacts, "workflow-resumed.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        TestContext.AddTestAttachment(screenshot, "The workflow page after Resume");
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo("paused"));
            Assert.That(after, Is.EqualTo("finished"));
        });
    }
}
