using System.Diagnostics;
using GenevaDrive.Execution;

namespace GenevaDrive.Tests.Storage;

/// <summary>The dashboard's counts: exact on a small store; on a large one the latest count, recounted in the background when stale.</summary>
public sealed class WorkflowCountsTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task OnASmallStore_EveryPageCountsAfresh()
    {
        var counts = new WorkflowCounts(Store, Clock);
        await StartAsync("a");
        var first = await counts.GetAsync();
        await StartAsync("b");
        await Store.CreateAsync(Spec("c", type: "billing"));

        var second = await counts.GetAsync();

        Assert.Multiple(() =>
        {
            Assert.That(first.Fresh, Is.True);
            Assert.That(first.ByState()[WorkflowState.Ready], Is.EqualTo(1));
            Assert.That(second.Fresh, Is.True);
            Assert.That(second.ByState()[WorkflowState.Ready], Is.EqualTo(3));
            Assert.That(second.Total(null, "signup"), Is.EqualTo(2));
            Assert.That(second.Total(WorkflowState.Ready, "billing"), Is.EqualTo(1));
            Assert.That(second.Total(WorkflowState.Paused, null), Is.Zero);
        });
    }

    [Test]
    public async Task WhenCountingIsSlow_PagesGetTheLatestCount_AndAStaleOneIsRecountedBehindThem()
    {
        // Every count counts as slow: the behaviour of a store with millions of workflows.
        var counts = new WorkflowCounts(Store, Clock, cheapCount: TimeSpan.Zero);
        await StartAsync("a");
        var first = await counts.GetAsync();
        await StartAsync("b");

        var cached = await counts.GetAsync();
        Clock.Advance(WorkflowCounts.MaxAge + TimeSpan.FromSeconds(1));
        var stale = await counts.GetAsync();
        var recounted = await EventuallyAsync(counts, s => s.ByState()[WorkflowState.Ready] == 2);

        Assert.Multiple(() =>
        {
            Assert.That(first.Fresh, Is.True, "the first page has nothing cached and counts");
            Assert.That(cached.Fresh, Is.False);
            Assert.That(cached.ByState()[WorkflowState.Ready], Is.EqualTo(1), "within its age the cached count is shown as it was");
            Assert.That(cached.TakenAt, Is.EqualTo(first.TakenAt));
            Assert.That(stale.ByState()[WorkflowState.Ready], Is.EqualTo(1), "a stale count is shown while the recount runs behind");
            Assert.That(recounted.TakenAt, Is.EqualTo(Now), "the recount is stamped with its own time, which the page shows");
        });
    }

    [Test]
    public async Task Peek_NeverWaits_ItStartsTheFirstCountBehindAndShowsItOnceDone()
    {
        var counts = new WorkflowCounts(Store, Clock);
        await StartAsync("a");

        var before = counts.Peek();
        var deadline = Stopwatch.StartNew();
        WorkflowCounts.Snapshot? after;
        while ((after = counts.Peek()) is null && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.Null, "nothing was counted yet, and a scrape does not wait for it");
            Assert.That(after?.ByState()[WorkflowState.Ready], Is.EqualTo(1), "the count it started lands");
        });
    }

    [Test]
    public async Task WhenCountingFails_ItIsLogged_PagesKeepTheLatestCounts_AndTheirAgeGrows()
    {
        Assume.That(Database, Is.EqualTo("sqlite").Or.EqualTo("postgresql"), "the table is renamed with SQLite's and PostgreSQL's syntax");
        var log = new GenevaDrive.Tests.Server.CapturingLoggerProvider();
        var counts = new WorkflowCounts(Store, Clock, logger: log.CreateLogger("counts"));
        await StartAsync("a");
        var first = await counts.GetAsync();
        var table = Db.Table("Workflows");
        var renamed = Database == "sqlite" ? $"\"{Db.Target.SchemaOrPrefix}Gone\"" : "\"Gone\"";
        // The count's table vanishes (a broken replica, revoked rights): every count fails.
        await Db.ExecuteAsync($"ALTER TABLE {table} RENAME TO {renamed}");
        try
        {
            Clock.Advance(TimeSpan.FromSeconds(5));
            var duringOutage = await counts.GetAsync();
            var logged = log.Entries.Count;
            var again = await counts.GetAsync();
            var ageDuringOutage = counts.Age;

            Assert.Multiple(() =>
            {
                Assert.That(duringOutage.TakenAt, Is.EqualTo(first.TakenAt), "the page got the latest counts instead of an error");
                Assert.That(duringOutage.ByState()[WorkflowState.Ready], Is.EqualTo(1));
                Assert.That(logged, Is.EqualTo(1), "the failure was logged");
                Assert.That(log.Entries.First().Message, Does.Contain("Counting workflows by state failed"));
                Assert.That(again.TakenAt, Is.EqualTo(first.TakenAt));
                Assert.That(log.Entries, Has.Count.EqualTo(1), "the next page did not count synchronously again (it would have failed and logged)");
                Assert.That(ageDuringOutage, Is.EqualTo(TimeSpan.FromSeconds(5)), "the age the gauge reports grows with the outage");
            });
        }
        finally
        {
            await Db.ExecuteAsync($"ALTER TABLE {(Database == "sqlite" ? renamed : table.Replace("\"Workflows\"", "\"Gone\"", StringComparison.Ordinal))} RENAME TO \"{(Database == "sqlite" ? Db.Target.SchemaOrPrefix : "")}Workflows\"");
        }
    }

    private static async Task<WorkflowCounts.Snapshot> EventuallyAsync(WorkflowCounts counts, Func<WorkflowCounts.Snapshot, bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var snapshot = await counts.GetAsync();
            if (condition(snapshot))
            {
                return snapshot;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                Assert.Fail("The background recount never landed.");
            }

            await Task.Delay(20);
        }
    }
}
