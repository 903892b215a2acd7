using System.Data.Common;
using System.Diagnostics;
using Dapper;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Old and new side by side: a worker of schema version 1 runs steps on the same tables while this build's installer
/// migrates them to the latest version. The old worker is a loop of the transactions a version-1 build runs (lock the
/// workflow, close its scheduled execution, insert the next, move the workflow on), repeated after a deadlock or lock
/// timeout as every version's store repeats them. Nothing it does may fail, and no row may be lost.
/// </summary>
public sealed class SideBySideUpgradeTests(string database) : StorageTestBase(database)
{
    private const int Workflows = 2_000;

    protected override bool InstallSchema => false;

    [Test]
    public async Task AVersionOneWorker_KeepsRunningSteps_WhileThisBuildMigratesTheSameTables()
    {
        Assume.That(Database, Is.EqualTo("sqlite").Or.EqualTo("postgresql"), "the version-1 worker below is written for SQLite and PostgreSQL");
        await Db.InstallAsync(upToVersion: 1);
        var postgres = Database == "postgresql";
        string now = postgres ? "now()" : "strftime('%Y-%m-%d %H:%M:%f', 'now')";
        var (w, e) = (Db.Table("Workflows"), Db.Table("StepExecutions"));
        await Db.ExecuteAsync(
            $"WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {Workflows}) " +
            $"INSERT INTO {w} (\"Type\", \"HeroType\", \"HeroId\", \"State\", \"NextStepName\", \"CreatedAt\", \"UpdatedAt\", \"StartedAt\") " +
            $"SELECT 'old_type', 'User', 'u' || x, 'ready', 'step_2', {now}, {now}, {now} FROM g");
        await Db.ExecuteAsync(
            $"INSERT INTO {e} (\"WorkflowId\", \"StepName\", \"State\", \"ScheduledFor\", \"CreatedAt\", \"UpdatedAt\") " +
            $"SELECT \"Id\", 'step_2', 'scheduled', {now}, {now}, {now} FROM {w}");
        var before = await Db.CountRowsAsync("StepExecutions");

        var steps = 0;
        var failures = new List<string>();
        var slowest = TimeSpan.Zero;
        var migrated = new TaskCompletionSource();
        var worker = Task.Run(async () =>
        {
            await using var connection = Db.Dialect.CreateConnection();
            await connection.OpenAsync();
            var random = new Random(3);
            // Until the installer is done, then a few more steps on the new schema.
            var after = 0;
            while (after < 20)
            {
                var id = random.Next(1, Workflows + 1);
                var took = Stopwatch.StartNew();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await OldStepAsync(connection, id, postgres, now, w, e);
                        Interlocked.Increment(ref steps);
                        after += migrated.Task.IsCompleted ? 1 : 0;
                        break;
                    }
                    catch (Exception fault) when (attempt < 10 && Db.Dialect.IsTransient(fault))
                    {
                    }
                    catch (Exception fault)
                    {
                        failures.Add(fault.Message);
                        break;
                    }
                }

                slowest = took.Elapsed > slowest ? took.Elapsed : slowest;
            }
        });

        while (Volatile.Read(ref steps) < 20 && !worker.IsCompleted)
        {
            await Task.Delay(10); // the old worker is at work before the upgrade starts
        }

        var migrating = Stopwatch.StartNew();
        await Db.InstallAsync();
        var migration = migrating.Elapsed;
        migrated.SetResult();
        await worker.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Multiple(async () =>
        {
            Assert.That(failures, Is.Empty, "no step of the old worker failed");
            Assert.That(await Db.GetSchemaVersionAsync(), Is.EqualTo(Db.Dialect.SchemaVersion), "migrated to the latest version");
            Assert.That(await Db.CountRowsAsync("StepExecutions"), Is.EqualTo(before + steps), "every step the old worker ran is there, no row lost");
            Assert.That(await Db.CountRowsAsync("Workflows"), Is.EqualTo(Workflows));
            Assert.That(steps, Is.GreaterThanOrEqualTo(40), "it kept running before, during and after the upgrade");
            Assert.That(slowest, Is.LessThan(TimeSpan.FromSeconds(30)), $"the old worker's slowest step (the upgrade took {migration.TotalMilliseconds:0} ms)");
        });
    }

    /// <summary>One step as a version-1 build runs it: workflow row first, then its scheduled execution.</summary>
    private static async Task OldStepAsync(DbConnection connection, long id, bool postgres, string now, string w, string e)
    {
        await using var tx = await connection.BeginTransactionAsync();
        var lockRow = postgres ? " FOR UPDATE" : "";
        if (!postgres)
        {
            await connection.ExecuteAsync($"UPDATE {w} SET \"Id\" = \"Id\" WHERE 0", transaction: tx); // the write lock at once
        }

        await connection.ExecuteScalarAsync<long?>($"SELECT \"Id\" FROM {w} WHERE \"Id\" = @id{lockRow}", new { id }, tx);
        var open = await connection.ExecuteScalarAsync<long?>(
            $"SELECT \"Id\" FROM {e} WHERE \"WorkflowId\" = @id AND \"State\" IN ('scheduled', 'in_progress'){lockRow}", new { id }, tx);
        if (open is { } closing)
        {
            await connection.ExecuteAsync($"UPDATE {e} SET \"State\" = 'completed', \"Outcome\" = 'success', \"CompletedAt\" = {now}, " +
                $"\"FinishedAt\" = {now}, \"UpdatedAt\" = {now} WHERE \"Id\" = @closing", new { closing }, tx);
        }

        await connection.ExecuteAsync($"INSERT INTO {e} (\"WorkflowId\", \"StepName\", \"State\", \"ScheduledFor\", \"CreatedAt\", \"UpdatedAt\") " +
            $"VALUES (@id, 'step_n', 'scheduled', {now}, {now}, {now})", new { id }, tx);
        await connection.ExecuteAsync($"UPDATE {w} SET \"NextStepName\" = 'step_n', \"UpdatedAt\" = {now} WHERE \"Id\" = @id", new { id }, tx);
        await tx.CommitAsync();
    }
}
