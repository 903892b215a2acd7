using System.Net;
using System.Text.RegularExpressions;
using GenevaDrive.Testing;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>
/// Child workflows on the dashboard, on each database: a parent's page counts its children by the step that started them
/// and links their list, a child's page links its parent, and the Workflows list filtered by <c>parent</c> shows exactly
/// the parent's children. The children are started and run by the engine (a test host on the same database); the dashboard
/// host only reads.
/// </summary>
[TestFixtureSource(typeof(TestDatabase), nameof(TestDatabase.All))]
[NonParallelizable]
public sealed class ChildWorkflowDashboardTests(string database)
{
    private TestDatabase _db = null!;
    private WorkflowTestHost _engine = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private Probe _probe = null!;
    private AccountDirectory _accounts = null!;

    [SetUp]
    public async Task StartHosts()
    {
        _db = TestDatabase.Create(database);
        _probe = new Probe();
        _accounts = new AccountDirectory();
        _engine = WorkflowTestHost.Create(
            o =>
            {
                _db.ConfigureStorage(o);
                Register(o);
                o.AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
            },
            services => services.AddSingleton(_probe).AddSingleton(_accounts).AddLogging());
        _app = await DashboardHost.StartAsync(_db, _accounts, new DashboardOptions(), workflows: Register);
        _http = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    [TearDown]
    public async Task StopHosts()
    {
        _http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            DashboardTests.ResetHangfireGlobals();
        }

        if (_engine is not null)
        {
            await _engine.DisposeAsync();
        }

        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    private static void Register(GenevaDriveOptions options) => options.AddWorkflow<FanOutAllWorkflow>().AddWorkflow<BillChildWorkflow>();

    /// <summary>Starts a parent and runs its first step, which starts <paramref name="children"/> children; returns them oldest first.</summary>
    private async Task<(WorkflowInfo Parent, IReadOnlyList<WorkflowInfo> Children)> StartParentAsync(string hero, int children = 3)
    {
        _probe.ChildCount = children;
        var parent = await _engine.Client.StartAsync<FanOutAllWorkflow>(_accounts.Add(hero));
        var run = await _engine.RunNextStepAsync(parent.Id);
        Assert.That(run!.Outcome, Is.EqualTo(StepOutcome.Success), run.Text);
        return (parent, (await _engine.Client.GetChildrenAsync(parent.Id)).OrderBy(c => c.Id).ToList());
    }

    private async Task<string> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), path);
        return await response.Content.ReadAsStringAsync();
    }

    private static int Rows(string html) => Regex.Matches(html, "<tr><td><a href").Count;

    private static List<long> RowIds(string html) =>
        Regex.Matches(html, "<tr><td><a href=\"[^\"]*\">#(\\d+)</a>").Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    [Test]
    public async Task ParentPage_CountsItsChildrenByTheStepThatStartedThem_AndLinksTheirList()
    {
        var (parent, children) = await StartParentAsync("p1");
        var running = await GetAsync($"/hangfire/genevadrive/workflows/{parent.Id}");
        await _engine.RunNextStepAsync(children[0].Id, advanceClock: false);
        await _engine.Client.CancelAsync(children[1].Id);

        var page = await GetAsync($"/hangfire/genevadrive/workflows/{parent.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(running, Does.Contain("<h3>Children</h3>").And.Contain("<strong>0 of 3 finished</strong>, 0 canceled, 0 paused, 3 running"));
            Assert.That(page, Does.Contain("<td><code>bill_all</code></td>"), "the group is the step that started the children");
            Assert.That(page, Does.Contain("<strong>1 of 3 finished</strong>, 1 canceled, 0 paused, 1 running"));
            Assert.That(page, Does.Contain("<td>1</td><td>0</td><td>0</td><td>1</td><td>1</td>"), "ready, performing, paused, finished, canceled");
            Assert.That(page, Does.Contain("progress-bar-success\" title=\"1 finished\" style=\"width:33.33%\""));
            Assert.That(page, Does.Contain($"href=\"/hangfire/genevadrive/workflows?parent={parent.Id}\">List the children</a>"));
            Assert.That(page, Does.Not.Contain("genevadrive-parent"), "a parent that is no child has no parent");
        });
    }

    [Test]
    public async Task ChildPage_LinksItsParent_AndAWorkflowWithoutChildrenHasNoChildrenSection()
    {
        var (parent, children) = await StartParentAsync("p1");

        var child = await GetAsync($"/hangfire/genevadrive/workflows/{children[1].Id}");

        Assert.Multiple(() =>
        {
            Assert.That(child, Does.Contain($"<dt>Parent</dt><dd class=\"genevadrive-parent\"><a href=\"/hangfire/genevadrive/workflows/{parent.Id}\">workflow #{parent.Id}</a> (step 'bill_all')"));
            Assert.That(child, Does.Contain($"<a href=\"/hangfire/genevadrive/workflows?parent={parent.Id}\">all its children</a>"));
            Assert.That(child, Does.Not.Contain("<h3>Children</h3>"));
        });
    }

    [Test]
    public async Task WorkflowsList_FilteredByParent_ShowsExactlyItsChildren_NewestFirst_AndPages()
    {
        var (parent, children) = await StartParentAsync("p1");
        var (other, otherChildren) = await StartParentAsync("p2", children: 2);

        var list = await GetAsync($"/hangfire/genevadrive/workflows?parent={parent.Id}");
        var firstPage = await GetAsync($"/hangfire/genevadrive/workflows?parent={parent.Id}&count=2");
        var secondPage = await GetAsync($"/hangfire/genevadrive/workflows?parent={parent.Id}&from=2&count=2");
        var childless = await GetAsync($"/hangfire/genevadrive/workflows?parent={children[0].Id}");
        var unfiltered = await GetAsync("/hangfire/genevadrive/workflows?parent=x");

        Assert.Multiple(() =>
        {
            Assert.That(RowIds(list), Is.EqualTo(children.Select(c => c.Id).Reverse()), "exactly the parent's children, newest first");
            Assert.That(list, Does.Contain($"<h1 class=\"page-header genevadrive-children-of\">Children of <a href=\"/hangfire/genevadrive/workflows/{parent.Id}\">fan_out_all #{parent.Id}</a></h1>"));
            Assert.That(list, Does.Contain("<small class=\"text-muted genevadrive-group\" title=\"Started by the parent's step\">by bill_all</small>"));
            Assert.That(list, Does.Contain("Page 1 of 1 (3 workflows)"));
            Assert.That(list, Does.Not.Contain("genevadrive-filter"), "the type and hero filters do not apply to a parent's children");
            Assert.That(list, Does.Contain("genevadrive-bulk-selected").And.Not.Contain("class=\"btn btn-sm btn-warning genevadrive-bulk-all\""), "bulk actions on the selected rows only");
            Assert.That(firstPage, Does.Contain("Page 1 of 2 (3 workflows)"));
            Assert.That(firstPage, Does.Contain($"workflows?parent={parent.Id}&amp;from=2&amp;count=2"), "the pager's links keep the parent");
            Assert.That(RowIds(firstPage), Is.EqualTo(new[] { children[2].Id, children[1].Id }));
            Assert.That(RowIds(secondPage), Is.EqualTo(new[] { children[0].Id }));
            Assert.That(childless, Does.Contain($"Workflow #{children[0].Id} has no children.").And.Contain("Page 1 of 1 (0 workflows)"));
            Assert.That(Rows(unfiltered), Is.EqualTo(2 + 3 + 2), "a parent it cannot read is ignored: every workflow is listed");
            Assert.That(unfiltered, Does.Contain("<h1 class=\"page-header\">Workflows</h1>").And.Contain("genevadrive-filter"));
            Assert.That(RowIds(unfiltered), Is.SupersetOf(new[] { parent.Id, other.Id, otherChildren[0].Id }));
        });
    }
}
