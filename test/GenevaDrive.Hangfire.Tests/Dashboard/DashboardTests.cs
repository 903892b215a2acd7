using System.Net;
using System.Text.RegularExpressions;
using GenevaDrive.Server;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>The Workflows pages and commands over HTTP, against a real ASP.NET Core host with Hangfire's dashboard.</summary>
[NonParallelizable]
public sealed partial class DashboardTests
{
    private TestDatabase _db = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private IWorkflowClient _workflows = null!;
    private AccountDirectory _accounts = null!;

    [SetUp]
    public async Task StartHost()
    {
        _db = TestDatabase.Create("sqlite");
        _accounts = new AccountDirectory();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddAntiforgery();
        builder.Services.AddSingleton(new Probe()).AddSingleton(_accounts);
        builder.Services.AddGenevaDrive(o =>
        {
            _db.ConfigureStorage(o);
            o.AddWorkflow<ThreeStepWorkflow>().AddWorkflow<HookWorkflow>().AddWorkflow<ApprovalWorkflow>()
                .AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
        });
        builder.Services.AddHangfire((sp, config) => config.UseInMemoryStorage().UseGenevaDrive(sp));
        _app = builder.Build();
        _app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            Authorization = [new HeaderAuthorization()],
            IsReadOnlyFunc = context => context.GetHttpContext().Request.Headers.ContainsKey("X-Read-Only"),
        });
        await _app.StartAsync();
        _workflows = _app.Services.GetRequiredService<IWorkflowClient>();
        _http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(_app.Urls.First()),
        };
        _http.DefaultRequestHeaders.Add("X-Test-User", "admin");
    }

    [TearDown]
    public async Task StopHost()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        ResetHangfireGlobals();
        await _db.DisposeAsync();
    }

    /// <summary>Undoes what a stopped dashboard host set process-wide.</summary>
    internal static void ResetHangfireGlobals()
    {
        foreach (var filter in GlobalJobFilters.Filters.Where(f => f.Instance is WorkflowStepFilter).ToList())
        {
            GlobalJobFilters.Filters.Remove(filter.Instance);
        }

        // AddHangfire pointed Hangfire's process-wide log provider and job activator at this host's (now disposed) services.
        global::Hangfire.Logging.LogProvider.SetCurrentLogProvider(new SilentLogProvider());
        JobActivator.Current = new JobActivator();
    }

    private Task<WorkflowInfo> StartAsync(string accountId) => _workflows.StartAsync<ThreeStepWorkflow>(_accounts.Add(accountId));

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path, Action<HttpRequestMessage>? adjust = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        adjust?.Invoke(request);
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>POSTs a dashboard command with the antiforgery token taken from a dashboard page, as hangfire.js does.</summary>
    private async Task<HttpStatusCode> CommandAsync(string path, bool withToken = true, Action<HttpRequestMessage>? adjust = null)
    {
        var (_, page) = await GetAsync("/hangfire/genevadrive/workflows");
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent([]) };
        if (withToken)
        {
            request.Headers.Add(Meta(page, "csrf-header"), Meta(page, "csrf-token"));
        }

        adjust?.Invoke(request);
        using var response = await _http.SendAsync(request);
        return response.StatusCode;
    }

    private static string Meta(string html, string name) =>
        WebUtility.HtmlDecode(Regex.Match(html, $"<meta name=\"{name}\" content=\"([^\"]*)\"").Groups[1].Value);

    [Test]
    public async Task ListPage_ShowsCountsAndWorkflows_NewestFirst()
    {
        var first = await StartAsync("first");
        var second = await StartAsync("second");
        await _workflows.PauseAsync(second.Id);

        var (status, body) = await GetAsync("/hangfire/genevadrive/workflows");

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(body, Does.Contain("<h1 class=\"page-header\">Workflows</h1>"));
            Assert.That(body, Does.Contain("paused <span class=\"badge\">1</span>").And.Contain("ready <span class=\"badge\">1</span>"));
            Assert.That(body.IndexOf($">#{second.Id}<", StringComparison.Ordinal), Is.LessThan(body.IndexOf($">#{first.Id}<", StringComparison.Ordinal)));
            Assert.That(body, Does.Contain("<option value=\"three_steps\">three_steps</option>"));
        });
    }

    [Test]
    public async Task ListPage_FiltersByStateAndType_AndPages()
    {
        for (var i = 0; i < 30; i++)
        {
            await StartAsync($"a{i}");
        }

        var hooks = await _workflows.StartAsync<HookWorkflow>(_accounts.Add("h"));
        await _workflows.PauseAsync(hooks.Id);

        var (_, paused) = await GetAsync("/hangfire/genevadrive/workflows?state=paused");
        var (_, byType) = await GetAsync("/hangfire/genevadrive/workflows?type=hooks");
        var (_, page2) = await GetAsync("/hangfire/genevadrive/workflows?state=ready&from=25&count=25");
        var (_, perPage) = await GetAsync("/hangfire/genevadrive/workflows?state=ready&count=10");

        Assert.Multiple(() =>
        {
            Assert.That(Regex.Matches(paused, "<tr><td><a href").Count, Is.EqualTo(1));
            Assert.That(paused, Does.Contain($">#{hooks.Id}<"));
            Assert.That(paused, Does.Match("class=\"text-muted small genevadrive-reason\" title=\"Paused[^\"]*from code"), "a paused row says why");
            Assert.That(Regex.Matches(byType, "<tr><td><a href").Count, Is.EqualTo(1));
            Assert.That(page2, Does.Contain("Page 2 of 2 (30 workflows)"));
            Assert.That(Regex.Matches(page2, "<tr><td><a href").Count, Is.EqualTo(5));
            Assert.That(perPage, Does.Contain("Page 1 of 3 (30 workflows)"), "Hangfire's per-page selector's count");
            Assert.That(perPage, Does.Contain("workflows?state=ready&amp;from=10&amp;count=10"), "the pager's links keep the filter");
            Assert.That(perPage, Does.Contain("btn-group paginator"), "Hangfire's own paginator");
        });
    }

    [Test]
    public async Task WorkflowPage_ShowsHeroStepsHistoryAndOnlyLegalCommands()
    {
        var workflow = await StartAsync("detail");

        var (status, body) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(body, Does.Contain($"three_steps #{workflow.Id}"));
            Assert.That(body, Does.Contain("GenevaDrive.Tests.Execution.Account <code>detail</code>"));
            Assert.That(body, Does.Contain("<td><span class=\"label label-info\">next</span></td><td>first</td>"));
            Assert.That(body, Does.Contain("<td>second</td><td>02:00:00</td>"));
            Assert.That(body, Does.Contain("genevadrive-history"));
            Assert.That(body, Does.Contain("genevadrive-pause").And.Contain("genevadrive-cancel").And.Contain("genevadrive-skip"));
            Assert.That(body, Does.Not.Contain("genevadrive-resume"));
        });
    }

    [Test]
    public async Task WorkflowPage_ForARunningStep_ShowsItsJobAndLease_AndSaysWhenTheWorkerIsGone()
    {
        var workflow = await StartAsync("running");
        var store = new GenevaDrive.Store.WorkflowStore(_db.Dialect, TimeProvider.System);
        var first = (await store.GetCurrentExecutionAsync(workflow.Id))!;
        await store.ClaimAsync(first.Id, "77", TimeSpan.FromMinutes(5));
        var (_, alive) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        // The worker was killed: its lease runs out without a heartbeat.
        await _db.ExpireLeaseAsync(first.Id);
        var (_, gone) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(alive, Does.Contain("genevadrive-running").And.Contain("on job 77").And.Contain("lease held until"));
            Assert.That(gone, Does.Contain("its lease ran out at").And.Contain("the worker is gone (killed or frozen)")
                .And.Contain("the reconciler recovers the step"));
        });
    }

    [Test]
    public async Task WorkflowPage_ShowsEachAttemptsCursorCheckpointsBackoffAndIdempotencyKey()
    {
        var workflow = await StartAsync("progress");
        var store = new GenevaDrive.Store.WorkflowStore(_db.Dialect, TimeProvider.System);
        var first = (await store.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await store.ClaimAsync(first.Id, "41", TimeSpan.FromMinutes(5));
        await store.CheckpointAsync(first.Id, claim.Execution!.LeaseToken!, "{\"After\":17}");
        await store.CheckpointAsync(first.Id, claim.Execution.LeaseToken!, "{\"After\":23}");
        await store.FinalizeAsync(first.Id, claim.Execution.LeaseToken!, new GenevaDrive.Store.StepCompletion
        {
            ExecutionState = StepExecutionState.Completed,
            Outcome = StepOutcome.Reattempted,
            WorkflowState = WorkflowState.Ready,
            NextStepName = "first",
            Schedule = new GenevaDrive.Store.NextStep("first", TimeSpan.FromSeconds(20)),
            Metadata = "{\"reattempt_reason\":\"exception_policy\",\"backoff\":\"linear(initial 00:00:10): reattempt 2 waits 0:00:20\"}",
        });

        var (_, body) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(body, Does.Contain("cursor <code>{&quot;After&quot;:23}</code>, 2 checkpoint(s)"));
            Assert.That(body, Does.Contain("next attempt by linear(initial 00:00:10): reattempt 2 waits 0:00:20"));
            Assert.That(body, Does.Contain($"Idempotency key {StepContext.BuildIdempotencyKey(workflow.Id, "first", 1)}"));
            Assert.That(body, Does.Contain($"Idempotency key {StepContext.BuildIdempotencyKey(workflow.Id, "first", 2)}"),
                "the reattempt is the next logical attempt");
            Assert.That(body, Does.Contain("cursor <code>{&quot;After&quot;:23}</code>, 0 checkpoint(s)"), "the next attempt starts from the saved cursor");
        });
    }

    [Test]
    public async Task WaitingWorkflow_ShowsWhatItWaitsFor_AndAnOperatorCanDeliverTheEvent()
    {
        var workflow = await _workflows.StartAsync<ApprovalWorkflow>(_accounts.Add("waits"));
        var (_, before) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        var delivered = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/event",
            adjust: r => r.Content = new FormUrlEncodedContent([new("name", "approved"), new("payload", "{\"by\":\"ops\"}")]));
        var badName = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/event",
            adjust: r => r.Content = new FormUrlEncodedContent([new("name", " "), new("payload", "x")]));
        var (_, after) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        var (_, readOnly) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}", r => r.Headers.Add("X-Read-Only", "1"));

        Assert.Multiple(async () =>
        {
            Assert.That(before, Does.Contain("<dt>Waiting for</dt><dd class=\"genevadrive-waiting\">event <code>approved</code>"));
            Assert.That(before, Does.Contain("(then Pause)"));
            Assert.That(before, Does.Contain("event approved (up to 01:00:00, then Pause)"), "the steps table shows the wait");
            Assert.That(before, Does.Contain("No event was received.").And.Contain("genevadrive-deliver"));
            Assert.That(delivered, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(badName, Is.EqualTo((HttpStatusCode)422), "a blank event name is refused");
            Assert.That(after, Does.Contain("genevadrive-events").And.Contain("<code>{&quot;by&quot;:&quot;ops&quot;}</code>"));
            Assert.That((await _workflows.GetEventsAsync(workflow.Id)).Single().EventId, Does.StartWith("dashboard-"));
            Assert.That((await _workflows.GetCurrentExecutionAsync(workflow.Id))!.ScheduledFor, Is.LessThanOrEqualTo(DateTime.UtcNow),
                "the waiting step became due now");
            Assert.That(readOnly, Does.Not.Contain("genevadrive-deliver"), "a read-only dashboard offers no delivery");
        });
    }

    [Test]
    public async Task UnknownWorkflow_SaysSo()
    {
        var (status, body) = await GetAsync("/hangfire/genevadrive/workflows/987654");
        var (overflowStatus, overflow) = await GetAsync("/hangfire/genevadrive/workflows/99999999999999999999999");

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(body, Does.Contain("This workflow does not exist"));
            Assert.That(overflowStatus, Is.EqualTo(HttpStatusCode.NotFound), "an id too large for a long is not an error");
            Assert.That(overflow, Does.Contain("This workflow does not exist"));
        });
    }

    [TestCase("?from=-1")]
    [TestCase("?from=2147483647&count=1000")]
    [TestCase("?from=99999999999999999999")]
    [TestCase("?count=0")]
    [TestCase("?count=abc")]
    [TestCase("?count=100000000")]
    [TestCase("?page=99999999999")]
    [TestCase("?state=bogus&type=%00%01")]
    [TestCase("?hero=%3Cscript%3E")]
    [TestCase("/0")]
    [TestCase("/123/../../x")]
    public async Task BadQueryValues_NeverAnswer500(string tail)
    {
        await StartAsync("bad-values");

        var (status, body) = await GetAsync("/hangfire/genevadrive/workflows" + tail);

        Assert.Multiple(() =>
        {
            Assert.That((int)status, Is.LessThan(500), body);
            Assert.That(body, Does.Not.Contain("<script>"), "values are encoded");
        });
    }

    [Test]
    public async Task HeroSearch_FindsTheHerosWorkflows()
    {
        var wanted = await StartAsync("needle-42");
        await StartAsync("haystack");

        var (_, found) = await GetAsync("/hangfire/genevadrive/workflows?hero=needle-42");
        var (_, none) = await GetAsync("/hangfire/genevadrive/workflows?hero=nobody");

        Assert.Multiple(() =>
        {
            Assert.That(Regex.Matches(found, "<tr><td><a href").Count, Is.EqualTo(1));
            Assert.That(found, Does.Contain($">#{wanted.Id}<"));
            Assert.That(found, Does.Contain("value=\"needle-42\""), "the search box keeps the value");
            Assert.That(none, Does.Contain("No workflow is about a hero with id <code>nobody</code>."));
        });
    }

    [Test]
    public async Task RefusedCommand_TheWorkflowPageSaysWhy_AndTheBadgeCountsPausedWorkflows()
    {
        var workflow = await StartAsync("refused");
        var paused = await StartAsync("paused-one");
        await _workflows.PauseAsync(paused.Id);

        var status = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/resume");
        var (_, page) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}?refused=resume");
        var (_, list) = await GetAsync("/hangfire/genevadrive/workflows");

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.UnprocessableEntity));
            Assert.That(page, Does.Contain("<strong>resume was refused.</strong> Cannot resume a ready workflow"));
            Assert.That(page, Does.Contain("data-genevadrive-command="), "the buttons report a refusal instead of hanging");
            Assert.That(Regex.IsMatch(list, "<span data-metric=\"genevadrive:paused\" class=\"metric [^\"]*\">1</span>"), Is.True,
                "the navigation badge shows the paused count");
        });
    }

    [Test]
    public async Task WorkflowPage_DrawsATimelineOfTheAttempts_AndUsesHangfiresTimeAndJobHelpers()
    {
        var workflow = await StartAsync("timeline");
        var store = new GenevaDrive.Store.WorkflowStore(_db.Dialect, TimeProvider.System);
        var first = (await store.GetCurrentExecutionAsync(workflow.Id))!;
        var claim = await store.ClaimAsync(first.Id, "17", TimeSpan.FromMinutes(5));
        await store.FinalizeAsync(first.Id, claim.Execution!.LeaseToken!, new GenevaDrive.Store.StepCompletion
        {
            ExecutionState = StepExecutionState.Completed,
            Outcome = StepOutcome.Success,
            WorkflowState = WorkflowState.Ready,
            NextStepName = "second",
            Schedule = new GenevaDrive.Store.NextStep("second", TimeSpan.FromHours(2)),
        });

        var (_, page) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(page, Does.Contain("<svg class=\"genevadrive-timeline\""));
            Assert.That(Regex.Matches(page, "<g class=\"genevadrive-attempt\"").Count, Is.EqualTo(2));
            Assert.That(page, Does.Contain("data-outcome=\"success\"").And.Contain("data-outcome=\"scheduled\""));
            Assert.That(page, Does.Contain("data-moment-local="), "Hangfire's local-time helper renders the times");
            Assert.That(page, Does.Contain("/jobs/details/17"), "Hangfire's job link helper");
            Assert.That(page, Does.Contain("class=\"genevadrive-legend\"").And.Contain("time slice of a resumable step").And.Contain("interrupted (server stopped)"),
                "the legend names the kinds of attempt");
        });
    }

    [Test]
    public async Task Commands_ChangeTheState_WithTheAntiforgeryToken()
    {
        var workflow = await StartAsync("commands");

        var pause = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/pause");
        var afterPause = (await _workflows.GetAsync(workflow.Id))!.State;
        var (_, pausedPage) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        var resume = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/resume");
        var skip = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/skip");
        var cancel = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/cancel");

        Assert.Multiple(async () =>
        {
            Assert.That(new[] { pause, resume, skip, cancel }, Is.All.EqualTo(HttpStatusCode.NoContent));
            Assert.That(afterPause, Is.EqualTo(WorkflowState.Paused));
            Assert.That(pausedPage, Does.Contain("genevadrive-resume").And.Not.Contain("genevadrive-pause"));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Canceled));
            Assert.That((await _workflows.GetHistoryAsync(workflow.Id))[0].State, Is.EqualTo(StepExecutionState.Skipped));
        });
    }

    [Test]
    public async Task IllegalCommand_IsRefused_AndChangesNothing()
    {
        var workflow = await StartAsync("illegal");

        var status = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/resume");

        Assert.Multiple(async () =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.UnprocessableEntity));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task CommandWithoutAntiforgeryToken_IsRejected()
    {
        var workflow = await StartAsync("csrf");

        var status = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/cancel", withToken: false);

        Assert.Multiple(async () =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task CommandsArePostOnly()
    {
        var workflow = await StartAsync("get");

        var (status, _) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/cancel");

        Assert.Multiple(async () =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task WithoutAuthorization_PagesAndCommandsAreRefused()
    {
        var workflow = await StartAsync("auth");
        static void Anonymous(HttpRequestMessage r) => r.Headers.Remove("X-Test-User");
        _http.DefaultRequestHeaders.Remove("X-Test-User");

        var (list, _) = await GetAsync("/hangfire/genevadrive/workflows");
        var (detail, _) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");
        var command = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/cancel", withToken: false, adjust: Anonymous);

        Assert.Multiple(async () =>
        {
            Assert.That(new[] { list, detail, command }, Is.All.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task ReadOnlyDashboard_HidesCommands_AndRefusesThem()
    {
        var workflow = await StartAsync("readonly");
        static void ReadOnly(HttpRequestMessage r) => r.Headers.Add("X-Read-Only", "1");

        var (_, page) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}", ReadOnly);
        var command = await CommandAsync($"/hangfire/genevadrive/workflows/{workflow.Id}/pause", adjust: ReadOnly);

        Assert.Multiple(async () =>
        {
            Assert.That(page, Does.Not.Contain("genevadrive-commands"));
            Assert.That(command, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await _workflows.GetAsync(workflow.Id))!.State, Is.EqualTo(WorkflowState.Ready));
        });
    }

    [Test]
    public async Task ValuesFromTheDatabase_AreRenderedInert()
    {
        const string evil = "<script>alert('owned')</script>";
        var workflow = await _workflows.StartAsync<HookWorkflow>(_accounts.Add(evil));
        await using (var connection = _db.Dialect.CreateConnection())
        {
            await connection.OpenAsync();
            var execution = (await new GenevaDrive.Store.WorkflowStore(_db.Dialect, TimeProvider.System).GetCurrentExecutionAsync(workflow.Id))!;
            execution.ErrorClassName = "Evil<b>Exception</b>";
            execution.ErrorMessage = evil;
            await Dapper.SqlMapper.ExecuteAsync(connection, _db.Dialect.Sql.UpdateStepExecution.Text, execution);
        }

        var (_, list) = await GetAsync("/hangfire/genevadrive/workflows");
        var (_, detail) = await GetAsync($"/hangfire/genevadrive/workflows/{workflow.Id}");

        Assert.Multiple(() =>
        {
            Assert.That(list + detail, Does.Not.Contain(evil));
            Assert.That(detail, Does.Contain("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
            Assert.That(detail, Does.Contain("Evil&lt;b&gt;Exception&lt;/b&gt;"));
        });
    }

    [Test]
    public async Task Navigation_HasAWorkflowsItem_AndStepJobsLinkToTheirWorkflow()
    {
        var workflow = await StartAsync("nav");
        var jobId = (await _workflows.GetCurrentExecutionAsync(workflow.Id))!.JobId;

        var (_, home) = await GetAsync("/hangfire");
        var (_, job) = await GetAsync($"/hangfire/jobs/details/{jobId}");

        Assert.Multiple(() =>
        {
            Assert.That(home, Does.Contain("/hangfire/genevadrive/workflows\"").And.Contain("Workflows"));
            Assert.That(job, Does.Contain("genevadrive-job-link").And.Contain($"/hangfire/genevadrive/workflows/{workflow.Id}\""));
            Assert.That(job, Does.Contain($"three_steps #{workflow.Id} › first"));
        });
    }

    internal sealed class SilentLogProvider : global::Hangfire.Logging.ILogProvider
    {
        public global::Hangfire.Logging.ILog GetLogger(string name) => new SilentLog();

        private sealed class SilentLog : global::Hangfire.Logging.ILog
        {
            public bool Log(global::Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null) => false;
        }
    }

    private sealed class HeaderAuthorization : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) =>
            context.GetHttpContext().Request.Headers["X-Test-User"] == "admin";
    }
}
