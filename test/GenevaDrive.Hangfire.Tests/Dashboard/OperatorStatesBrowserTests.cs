using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Sample;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>
/// What an operator sees in headless Chromium: a paused row that says why, and a workflow whose worker is gone with its
/// reattempts counted and the timeline's legend. The screenshots (in the test's work directory, under browser/) are the
/// ones in docs/running-on-hangfire.md. Needs Debian's chromium; ignored without it, failed without it when CI=true.
/// </summary>
[NonParallelizable]
public sealed class OperatorStatesBrowserTests
{
    [Test]
    public async Task PausedReasons_AGoneWorker_ReattemptCounts_AndTheLegend_AreShown()
    {
        HeadlessChromium.Require();

        await using var db = TestDatabase.Create("sqlite");
        var accounts = new AccountDirectory();
        await using var app = await DashboardHost.StartAsync(db, accounts, new DashboardOptions { Authorization = [] });
        try
        {
            var workflows = app.Services.GetRequiredService<IWorkflowClient>();
            var paused = await workflows.StartAsync<ThreeStepWorkflow, Account>(accounts.Add("paused-1"));
            await workflows.PauseAsync(paused.Id);
            var flaky = await workflows.StartAsync<ThreeStepWorkflow, Account>(accounts.Add("flaky-1"));
            var store = new GenevaDrive.Store.WorkflowStore(db.Dialect, TimeProvider.System);
            for (var i = 0; i < 3; i++)
            {
                await DashboardHost.RunCurrentStepAsync(store, flaky.Id, $"{30 + i}", reattempt: i < 2);
            }

            // The third attempt's worker was killed: its lease ran out a minute ago.
            await db.ExecuteAsync($"UPDATE {db.Table("StepExecutions")} SET \"LeaseExpiresAt\" = @At WHERE \"State\" = 'in_progress'",
                new { At = DateTime.UtcNow.AddMinutes(-1) });

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await HeadlessChromium.LaunchAsync(playwright);
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
            var baseUrl = app.Urls.First();
            var artifacts = Path.Combine(TestContext.CurrentContext.WorkDirectory, "browser");
            Directory.CreateDirectory(artifacts);

            await page.GotoAsync($"{baseUrl}/hangfire/genevadrive/workflows?type=three_steps");
            var reason = await page.Locator(".genevadrive-reason").First.InnerTextAsync();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflows-paused-reason.png"), FullPage = true });

            await page.GotoAsync($"{baseUrl}/hangfire/genevadrive/workflows/{flaky.Id}");
            var running = await page.Locator(".genevadrive-running").InnerTextAsync();
            var reattempts = await page.Locator(".genevadrive-reattempts").InnerTextAsync();
            var legendVisible = await page.Locator(".genevadrive-legend").IsVisibleAsync();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflow-worker-gone.png"), FullPage = true });

            Assert.Multiple(() =>
            {
                Assert.That(reason, Does.StartWith("Paused through IWorkflowClient.PauseAsync (from code)"));
                Assert.That(running, Does.Contain("the worker is gone (killed or frozen)").And.Contain("job 32"));
                Assert.That(reattempts, Does.StartWith("2 failed attempt(s) of this workflow were reattempted"));
                Assert.That(legendVisible, Is.True, "the timeline's legend is shown");
            });
        }
        finally
        {
            await app.StopAsync();
            DashboardTests.ResetHangfireGlobals();
        }
    }
}
