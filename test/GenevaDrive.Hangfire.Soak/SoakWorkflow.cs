using Dapper;
using Npgsql;

namespace GenevaDrive.Soak;

/// <summary>The hero of the soak: just an id.</summary>
public sealed record SoakHero(string Id);

/// <summary>Where the soak's bodies record their runs and side effects (tables in the soak's own schema).</summary>
public sealed class SoakLedger(string connectionString, string schema)
{
    public string Schema => schema;

    public string Install =>
        $"CREATE SCHEMA IF NOT EXISTS \"{schema}\"; " +
        $"CREATE TABLE IF NOT EXISTS \"{schema}\".runs (id bigserial PRIMARY KEY, workflow_id bigint NOT NULL, step text NOT NULL, token bigint NOT NULL, " +
        "pid int NOT NULL, started timestamptz NOT NULL, ended timestamptz NULL, outcome text NULL); " +
        $"CREATE TABLE IF NOT EXISTS \"{schema}\".effects (workflow_id bigint NOT NULL, step text NOT NULL, token bigint NOT NULL, pid int NOT NULL, at timestamptz NOT NULL); " +
        $"CREATE TABLE IF NOT EXISTS \"{schema}\".refused (workflow_id bigint NOT NULL, step text NOT NULL, token bigint NOT NULL, pid int NOT NULL, at timestamptz NOT NULL);";

    /// <summary>The harness's own writes survive the database restart it causes: retried for up to a minute.</summary>
    public async Task<T> WriteAsync<T>(Func<NpgsqlConnection, Task<T>> write)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                return await write(connection);
            }
            catch (Exception e) when (e is NpgsqlException or System.IO.IOException or TimeoutException && attempt < 120)
            {
                await Task.Delay(500);
            }
        }
    }
}

/// <summary>
/// Four steps of a few hundred milliseconds (one of them seconds long) that work in small slices checking
/// their token, then write a side effect guarded by the step's fencing token: the write of a run whose
/// token is smaller than one already written is refused, as the README recommends for side effects.
/// </summary>
[WorkflowName("soak")]
public sealed class SoakWorkflow(SoakLedger ledger) : Workflow<SoakHero>
{
    protected override void Define(WorkflowBuilder steps)
    {
        foreach (var (name, millis) in new[] { ("a", 300), ("b", 600), ("long", 6000), ("c", 300) })
        {
            steps.Step(name, ct => RunAsync(name, millis, ct));
        }
    }

    private async Task RunAsync(string step, int millis, CancellationToken ct)
    {
        var token = CurrentStep!.FencingToken;
        var pid = Environment.ProcessId;
        var runId = await ledger.WriteAsync(c => c.ExecuteScalarAsync<long>(
            $"INSERT INTO \"{ledger.Schema}\".runs (workflow_id, step, token, pid, started) VALUES (@w, @step, @token, @pid, now()) RETURNING id;",
            new { w = WorkflowId, step, token, pid }));
        var outcome = "canceled";
        try
        {
            for (var done = 0; done < millis; done += 100)
            {
                await Task.Delay(100, ct);
            }

            ct.ThrowIfCancellationRequested();
            var accepted = await ledger.WriteAsync(async c =>
            {
                await using var tx = await c.BeginTransactionAsync();
                await c.ExecuteAsync("SELECT pg_advisory_xact_lock(@w, hashtext(@step));", new { w = (int)WorkflowId, step }, tx);
                var newer = await c.ExecuteScalarAsync<bool>(
                    $"SELECT EXISTS (SELECT 1 FROM \"{ledger.Schema}\".effects WHERE workflow_id = @w AND step = @step AND token > @token);",
                    new { w = WorkflowId, step, token }, tx);
                await c.ExecuteAsync($"INSERT INTO \"{ledger.Schema}\".{(newer ? "refused" : "effects")} (workflow_id, step, token, pid, at) VALUES (@w, @step, @token, @pid, now());",
                    new { w = WorkflowId, step, token, pid }, tx);
                await tx.CommitAsync();
                return !newer;
            });
            outcome = accepted ? "completed" : "refused";
        }
        finally
        {
            await ledger.WriteAsync(c => c.ExecuteAsync($"UPDATE \"{ledger.Schema}\".runs SET ended = now(), outcome = @outcome WHERE id = @runId;",
                new { runId, outcome }));
        }
    }
}
