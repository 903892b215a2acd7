using System.Net;
using GenevaDrive.Dashboard;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Hangfire;
using Microsoft.AspNetCore.Builder;

namespace GenevaDrive.Tests.Dashboard;

/// <summary>
/// The registration a team already has: <c>AddHangfire(config => …)</c> without <c>UseGenevaDrive</c>, beside
/// <c>AddGenevaDrive</c>. The Workflows pages must appear all the same, and the section's odd addresses answer with pages.
/// </summary>
[NonParallelizable]
public sealed class DashboardRegistrationTests
{
    private TestDatabase _db = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private int _installsBefore;

    [SetUp]
    public async Task StartHost()
    {
        _db = TestDatabase.Create("sqlite");
        _installsBefore = GenevaDriveDashboard.InstallCalls;
        _app = await DashboardHost.StartAsync(_db, new AccountDirectory(), new DashboardOptions { Authorization = [] }, useGenevaDrive: false);
        _http = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    [TearDown]
    public async Task StopHost()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        DashboardTests.ResetHangfireGlobals();
        await _db.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task WithoutUseGenevaDrive_TheStartUpAddsTheWorkflowsPages()
    {
        var (status, body) = await GetAsync("/hangfire/genevadrive/workflows");

        Assert.Multiple(() =>
        {
            // The routes are process-wide: another test may have added them first, so the start-up's own call is checked too.
            Assert.That(GenevaDriveDashboard.InstallCalls, Is.GreaterThan(_installsBefore), "the host's start-up installed the pages");
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
            Assert.That(body, Does.Contain("three_steps"), "the list shows this host's registered workflows");
        });
    }

    [TestCase("/hangfire/genevadrive")]
    [TestCase("/hangfire/genevadrive/")]
    public async Task TheSectionsRoot_ShowsTheList(string path)
    {
        var (status, body) = await GetAsync(path);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
            Assert.That(body, Does.Contain("three_steps"));
        });
    }

    [TestCase("/hangfire/genevadrive/workflows/abc")]
    [TestCase("/hangfire/genevadrive/workflows/99999999999999999999999")]
    public async Task AnIdThatNamesNoWorkflow_GetsTheFriendlyNotFoundPage(string path)
    {
        var (status, body) = await GetAsync(path);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(body, Does.Contain("This workflow does not exist").And.Contain("← Workflows"));
        });
    }
}
