using Microsoft.Playwright;

namespace GenevaDrive.Tests.Sample;

/// <summary>
/// A person's view: headless Chromium opens the running sample's Workflows page, finds a paused demo
/// workflow, clicks Resume and sees the state change. Needs Debian's chromium (apt-get install chromium).
/// </summary>
[NonParallelizable]
public sealed class DashboardBrowserTests
{
    [Test]
    public async Task ResumingAPausedWorkflowFromTheDashboard_ChangesItsState()
    {
        HeadlessChromium.Require();

        await using var sample = SampleProcess.Start();
        await sample.WaitForOutputAsync("Dashboard: http://127.0.0.1:", TimeSpan.FromSeconds(60));
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
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
        // The timeline: one bar per attempt, coloured by outcome (three failed charges, then the successful one and the receipt).
        var bars = await page.Locator("svg.genevadrive-timeline g.genevadrive-attempt").CountAsync();
        var reattemptedBars = await page.Locator("svg.genevadrive-timeline g.genevadrive-attempt[data-outcome='reattempted']").CountAsync();
        var workflowUrl = page.Url;

        // Search by hero id.
        await page.GotoAsync($"{sample.BaseUrl}/hangfire/genevadrive/workflows");
        await page.Locator("#genevadrive-hero").FillAsync("erin-flaky");
        await page.Locator("form.genevadrive-filter button[type=submit]").ClickAsync();
        await page.Locator("table.genevadrive-workflows").WaitForAsync();
        var found = await page.Locator("table.genevadrive-workflows tbody tr").AllInnerTextsAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflows-search.png"), FullPage = true });

        // A refused command says why: ivy's signup waits (Pause is offered), the confirmation finishes it meanwhile,
        // and the stale Pause button is refused.
        await page.GotoAsync($"{sample.BaseUrl}/hangfire/genevadrive/workflows?hero=ivy");
        await page.Locator("table.genevadrive-workflows tbody tr a").First.ClickAsync();
        await page.Locator("button.genevadrive-pause").WaitForAsync();
        var signupUrl = page.Url;
        using (var http = new HttpClient())
        {
            (await http.PostAsync($"{sample.BaseUrl}/demo/confirm", new FormUrlEncodedContent([new("customer", "ivy")]))).EnsureSuccessStatusCode();
            var finishBy = DateTime.UtcNow.AddSeconds(30);
            while (!(await http.GetStringAsync(signupUrl)).Contains("<dd class=\"genevadrive-state\">finished</dd>", StringComparison.Ordinal))
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(finishBy), "ivy's signup did not finish after the confirmation");
                await Task.Delay(300);
            }
        }

        await page.Locator("button.genevadrive-pause").ClickAsync();
        await page.Locator(".genevadrive-refused").WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        var refused = await page.Locator(".genevadrive-refused").InnerTextAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflow-refused.png"), FullPage = true });
        await page.GotoAsync(workflowUrl);
        await page.Locator("svg.genevadrive-timeline").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(artifacts, "workflow-timeline.png") });

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo("paused"));
            Assert.That(after, Is.EqualTo("finished"));
            Assert.That(bars, Is.GreaterThanOrEqualTo(5), "the timeline draws every attempt");
            Assert.That(reattemptedBars, Is.EqualTo(3), "the three reattempted charges");
            Assert.That(found, Has.Count.EqualTo(1));
            Assert.That(found[0], Does.Contain("payment").And.Contain("erin-flaky"));
            Assert.That(refused, Does.StartWith("pause was refused.").And.Contain("Cannot pause a finished workflow"));
        });
    }
}
