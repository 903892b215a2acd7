using System.Diagnostics;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GenevaDrive.Benchmarks;

/// <summary>The price of one durable commit on each database, measured the way the step path pays it.</summary>
internal static class Floor
{
    private const int Commits = 300;

    /// <summary>A single-row UPDATE in autocommit, <see cref="Commits"/> times in a row; the median time of one.</summary>
    public static async Task<Measurement> DurableCommitAsync(string database, string? postgres)
    {
        var times = new List<double>(Commits);
        if (database == "postgresql")
        {
            await using var connection = new NpgsqlConnection(postgres);
            await connection.OpenAsync();
            // A regular table: temporary tables skip the WAL, and with it the fsync being measured.
            await connection.ExecuteAsync("DROP TABLE IF EXISTS genevadrive_bench_commit; CREATE TABLE genevadrive_bench_commit (id int PRIMARY KEY, n int NOT NULL); INSERT INTO genevadrive_bench_commit VALUES (1, 0);");
            for (var i = 0; i < Commits; i++)
            {
                var clock = Stopwatch.StartNew();
                await connection.ExecuteAsync("UPDATE genevadrive_bench_commit SET n = n + 1 WHERE id = 1;");
                times.Add(clock.Elapsed.TotalMilliseconds);
            }

            await connection.ExecuteAsync("DROP TABLE genevadrive_bench_commit;");
        }
        else
        {
            var folder = Directory.CreateTempSubdirectory("genevadrive-bench-commit-").FullName;
            try
            {
                // The same journal mode as the workflow tables (WAL, the default synchronous setting).
                await using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "commit.db")}");
                await connection.OpenAsync();
                await connection.ExecuteAsync("PRAGMA journal_mode = WAL; CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES (1, 0);");
                for (var i = 0; i < Commits; i++)
                {
                    var clock = Stopwatch.StartNew();
                    await connection.ExecuteAsync("UPDATE c SET n = n + 1 WHERE id = 1;");
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
            finally
            {
                SqliteConnection.ClearAllPools();
                Directory.Delete(folder, recursive: true);
            }
        }

        times.Sort();
        return new Measurement(database, "floor", 0, "one durable commit (ms)", times[times.Count / 2], true);
    }
}
