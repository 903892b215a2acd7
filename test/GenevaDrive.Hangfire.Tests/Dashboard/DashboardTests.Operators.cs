using System.Text.RegularExpressions;

namespace GenevaDrive.Tests.Dashboard;

// What an operator reads on the pages: reattempts counted (per step, per row, the flapping filter) and the timeline's colours.
public sealed partial class DashboardTests
{
    [Test]
    public async Task WorkflowPage_CountsReattemptsPerStep_WhichHangfiresRetriesPageDoesNotSee()
    {
        var workflow = await StartAsync("flaky");
        var store = new GenevaDrive.Store.WorkflowStore(_db.Dialect, TimeProvider.System);
        var (_, before) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        for (var i = 0; i < 2; i++)
        {
            await DashboardHost.RunCurrentStepAsync(store, workflow.Id, $"{20 + i}");
        }

        var calm = await StartAsync("calm");
        var (_, page) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        var (_, list) = await GetAsync("/hangfire/genevadrive/workflows");
        var (_, flapping) = await GetAsync("/hangfire/genevadrive/workflows?flapping=1");

        Assert.Multiple(() =>
        {
            Assert.That(list, Does.Match($">#{workflow.Id}<.*?<td class=\"genevadrive-reattempt-count\"><span class=\"label label-warning\">2</span></td>"),
                "the list counts the workflow's reattempts (one grouped query for the page)");
            Assert.That(before, Does.Not.Contain("genevadrive-reattempts"), "no note before any reattempt");
            Assert.That(list, Does.Contain("class=\"genevadrive-flapping\" href=\"/hangfire/genevadrive/workflows?flapping=1\""), "the list links the flapping filter");
            Assert.That(Regex.Matches(flapping, "<tr><td><a href").Count, Is.EqualTo(1), "only the workflow on its third attempt is flapping");
            Assert.That(flapping, Does.Contain($">#{workflow.Id}<").And.Not.Contain($">#{calm.Id}<"));
            Assert.That(page, Does.Contain("2 failed attempt(s) of this workflow were reattempted").And.Contain("Retries page"));
            Assert.That(page, Does.Match("<td>first</td>.*?<td><span class=\"label label-warning\">2</span></td>"), "the step's row counts them");
        });
    }

    [Test]
    public void TimelineColours_TellEveryKindOfAttemptApart()
    {
        var key = GenevaDrive.Dashboard.WorkflowPage.TimelineKey;
        var outcomes = Enum.GetValues<StepOutcome>().Select(o => GenevaDrive.Execution.StateNames.ToStored(o)).ToList();
        string ColourOf(string kind) => key.FirstOrDefault(k => k.Outcomes.Contains(kind)).Color ?? key[^1].Color;

        Assert.Multiple(() =>
        {
            Assert.That(key.Select(k => k.Color), Is.Unique, "one colour per kind");
            Assert.That(key.SelectMany(k => k.Outcomes), Is.Unique, "each outcome in one kind");
            Assert.That(ColourOf("suspended"), Is.Not.EqualTo(ColourOf("reattempted")), "a resumable step's normal time slice is not drawn as a reattempt");
            Assert.That(ColourOf("interrupted"), Is.Not.EqualTo(ColourOf("failed")).And.Not.EqualTo(ColourOf("reattempted")));
            Assert.That(outcomes.Where(o => o is not ("canceled" or "workflow_paused")).Where(o => !key.Any(k => k.Outcomes.Contains(o))), Is.Empty,
                "every other outcome has a colour of its own");
        });
    }
}
