using System.Security.Claims;
using GenevaDrive.Server;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Sample;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>
/// An operator's bulk actions in headless Chromium: select rows and cancel them, then jump every workflow matching a
/// filter to a step, confirming the dialogs; each change is recorded with the signed-in user's name. Needs Debian's
/// chromium (apt-get install chromium); ignored without it, failed without it when CI=true.
/// </summary>
[NonParallelizable]
public sealed class BulkActionsBrowserTests
{
    [Test]
    public async Task SelectedRowsAndAllMatching_AreChanged_AndRecordedWithTheOperatorsName()
    {
        HeadlessChromium.Require();

        await using var db = TestDatabase.Create("sqlite");
        var accounts = new AccountDirectory();
        await using var app = await DashboardHost.StartAsync(db, accounts, new DashboardOptions { Authorization = [new SignedInAs("ana")] });
        try
        {
            var workflows = app.Services.GetRequiredService<IWorkflowClient>();
            var ids = new List<long>();
            for (var i = 0; i < 5; i++)
            {
                ids.Add((await workflows.StartAsync<ThreeStepWorkflow>(accounts.Add($"bulk-{i}"))).Id);
            }

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await HeadlessChromium.LaunchAsync(playwright);
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
            var dialogs = new List<string>();
            page.Dialog += async (_, dialog) =>
            {
                dialogs.Add(dialog.Message);
                await dialog.AcceptAsync();
            };
            var baseUrl = app.Urls.First();

            // 1. Two selected rows, canceled.
            await page.GotoAsync($"{baseUrl}/hangfire/genevadrive/workflows?type=three_steps");
            await page.Locator($"input.genevadrive-select[value=\"{ids[0]}\"]").CheckAsync();
            await page.Locator($"input.genevadrive-select[value=\"{ids[1]}\"]").CheckAsync();
            await page.SelectOptionAsync("#genevadrive-bulk-action", "cancel");
            await page.Locator("button.genevadrive-bulk-selected").ClickAsync();
            await page.Locator(".genevadrive-bulk-summary").WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
            var canceledSummary = await page.Locator(".genevadrive-bulk-summary").InnerTextAsync();

            // 2. Every ready workflow of the type (the three others), jumped to 'third'.
            await page.GotoAsync($"{baseUrl}/hangfire/genevadrive/workflows?state=ready&type=three_steps");
            await page.SelectOptionAsync("#genevadrive-bulk-action", "jump");
            await page.SelectOptionAsync("select.genevadrive-bulk-step", "third");
            await page.Locator("button.genevadrive-bulk-all").ClickAsync();
            await page.Locator(".genevadrive-bulk-summary").WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
            var jumpedSummary = await page.Locator(".genevadrive-bulk-summary").InnerTextAsync();
            var artifacts = Path.Combine(TestContext.CurrentContext.WorkDirectory, "browser");
            Directory.CreateDirectory(artifacts);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "workflows-bulk.png"), FullPage = true });

            var after = new List<WorkflowInfo>();
            foreach (var id in ids)
            {
                after.Add((await workflows.GetAsync(id))!);
            }

            var jumpedHistory = await workflows.GetHistoryAsync(ids[4]);
            Assert.Multiple(() =>
            {
                Assert.That(dialogs, Has.Count.EqualTo(2));
                Assert.That(dialogs[0], Does.Contain("Cancel: 2 selected workflow(s)?"));
                // The count in the confirmation comes from the list's counts, which a busy machine may serve from the latest count.
                Assert.That(dialogs[1], Does.Match(@"Jump to step 'third': ALL (about )?\d+ workflow\(s\) matching this filter\?"));
                Assert.That(canceledSummary, Does.Contain("Bulk cancel by dashboard user 'ana': 2 of 2 workflow(s) changed."));
                Assert.That(jumpedSummary, Does.Contain("Bulk jump to 'third' by dashboard user 'ana': 3 of 3 workflow(s) changed."));
                Assert.That(after.Take(2).Select(w => w.State), Has.All.EqualTo(WorkflowState.Canceled));
                Assert.That(after.Take(2).Select(w => w.StateReason), Has.All.EqualTo("Canceled by dashboard user 'ana'."));
                Assert.That(after.Skip(2).Select(w => (w.State, w.NextStepName)), Has.All.EqualTo((WorkflowState.Ready, "third")));
                Assert.That(jumpedHistory.Select(h => h.OperatorNote), Has.Member("dashboard user 'ana' jumped from 'first' to 'third'"));
            });
        }
        finally
        {
            await app.StopAsync();
            DashboardTests.ResetHangfireGlobals();
        }
    }

    /// <summary>The host's sign-in, as an app's cookie or OpenID Connect authentication would set it.</summary>
    private sealed class SignedInAs(string name) : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context)
        {
            context.GetHttpContext().User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], "test"));
            return true;
        }
    }
}
