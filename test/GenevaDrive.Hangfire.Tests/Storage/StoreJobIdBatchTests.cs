using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>The ids of new step jobs written in batches: one round trip for many rows, on every database.</summary>
public sealed class StoreJobIdBatchTests(string database) : StorageTestBase(database)
{
    [Test]
    public async Task SetJobIds_WritesEveryScheduledRowOfTheBatch_AndLeavesClaimedOnesToTheirClaim()
    {
        var created = new List<CreatedWorkflow>();
        for (var i = 0; i < 7; i++)
        {
            created.Add(await StartAsync(heroId: $"h{i}"));
        }

        // The third one's job ran first: its claim wrote its own job id, which the batch must not overwrite.
        await Store.ClaimAsync(created[2].FirstExecution!.Id, "claimed-by-job", Lease);
        var statements = new List<string>();
        Store.Statements = (_, text) => statements.Add(text);

        await Store.SetJobIdsAsync(created.Select((c, i) => (c.FirstExecution!.Id, $"job-{i}")).ToList());

        Store.Statements = null;
        for (var i = 0; i < created.Count; i++)
        {
            var execution = await ExecutionAsync(created[i].FirstExecution!.Id);
            Assert.That(execution.JobId, Is.EqualTo(i == 2 ? "claimed-by-job" : $"job-{i}"), $"execution {i}");
            if (i != 2)
            {
                Assert.That(execution.DispatchedAt, Is.EqualTo(Now).Within(TimeSpan.FromMilliseconds(1)), $"execution {i} stamped");
            }
        }

        Assert.That(statements.Count(s => s != "BEGIN"), Is.EqualTo(1), "all seven rows in one command: " + string.Join(" | ", statements));
    }

    [Test]
    public async Task JobIdRecorder_WritesThroughTheStore_AndAFlushWaitsForEveryIdRecordedBeforeIt()
    {
        var created = new List<CreatedWorkflow>();
        for (var i = 0; i < 30; i++)
        {
            created.Add(await StartAsync(heroId: $"r{i}"));
        }

        // From many threads at once, as the workers of a server record them.
        await Task.WhenAll(created.Select((c, i) => Task.Run(() => Store.JobIds.Record(c.FirstExecution!.Id, $"r-{i}"))));
        await Store.JobIds.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(Store.JobIds.Pending, Is.Zero);
        for (var i = 0; i < created.Count; i++)
        {
            Assert.That((await ExecutionAsync(created[i].FirstExecution!.Id)).JobId, Is.EqualTo($"r-{i}"), $"execution {i}");
        }
    }

    [Test]
    public async Task RecordAsync_OnASingleWriterDatabase_WritesInTheCall_ElsewhereLeavesItToTheBatch()
    {
        var created = await StartAsync();
        var commands = 0;
        Store.Statements = (_, text) => commands += text == "BEGIN" ? 0 : 1;

        var recording = Store.JobIds.RecordAsync(created.FirstExecution!.Id, "77");
        var completedAtOnce = recording.IsCompleted;
        await recording;

        Store.Statements = null;
        if (Db.Dialect.SingleWriter)
        {
            Assert.That(commands, Is.EqualTo(1), "SQLite: written by the recording call, no writer of its own to contend for the file's lock");
            Assert.That(Store.JobIds.Pending, Is.Zero);
        }
        else
        {
            Assert.That(completedAtOnce, Is.True, "not written by the recording call: the worker does not wait for it");
        }

        Assert.That((await ExecutionAsync(created.FirstExecution.Id)).JobId, Is.EqualTo("77"), "written (by the read's flush at the latest)");
        Assert.That(Db.Dialect.SingleWriter, Is.EqualTo(Database == "sqlite"));
    }

    [Test]
    public async Task ACancel_WritesThePendingJobIdFirst_SoItKnowsWhichJobToDelete()
    {
        var created = await StartAsync();
        Store.JobIds.Record(created.FirstExecution!.Id, "pending-job");

        var canceled = await Store.CancelAsync(created.Workflow.Id);

        Assert.That(canceled.Ended?.JobId, Is.EqualTo("pending-job"), "the canceled execution carries the job the client then deletes");
    }

    [Test]
    public async Task SetJobIds_RetriesATransientFault_AndWritesTheBatchOnce()
    {
        var a = await StartAsync(heroId: "a");
        var b = await StartAsync(heroId: "b");
        var thrown = 0;
        Store.Statements = (_, text) =>
        {
            if (text != "BEGIN" && thrown++ == 0)
            {
                throw TransientFault();
            }
        };

        await Store.SetJobIdsAsync([(a.FirstExecution!.Id, "ja"), (b.FirstExecution!.Id, "jb")]);

        Store.Statements = null;
        Assert.Multiple(async () =>
        {
            Assert.That(thrown, Is.EqualTo(2), "failed once, then written");
            Assert.That((await ExecutionAsync(a.FirstExecution.Id)).JobId, Is.EqualTo("ja"));
            Assert.That((await ExecutionAsync(b.FirstExecution.Id)).JobId, Is.EqualTo("jb"));
        });
    }
}
