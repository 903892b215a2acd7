using System.Data;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;

namespace GenevaDrive.Store;

// The ids of new step jobs: one row at a time (the reconciler), or a batch of them in one round trip (JobIdRecorder).
internal sealed partial class WorkflowStore
{
    /// <summary>Records the Hangfire job created for a scheduled execution.</summary>
    /// <remarks>Also stamps <c>DispatchedAt</c>: the reconciler measures how long a job has waited from it.</remarks>
    public Task<bool> SetJobIdAsync(long executionId, string jobId, CancellationToken ct = default) =>
        RetryAsync(async token =>
        {
            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            return await ExecuteAsync(connection, Command(Sql.SetStepExecutionJobId,
                new { Id = executionId, JobId = ColumnLimits.JobId(jobId), Now }, null, token)).ConfigureAwait(false) == 1;
        }, ct);

    /// <summary>
    /// Records the Hangfire jobs of several scheduled executions in one round trip: the storage's one-row statement once per row
    /// (each row's <c>@Id</c> and <c>@JobId</c> renamed), in one transaction of the store's where the storage does not commit
    /// in its statements (PostgreSQL's statement carries its own asynchronous commit).
    /// </summary>
    internal Task SetJobIdsAsync(IReadOnlyList<(long ExecutionId, string JobId)> rows, CancellationToken ct = default)
    {
        if (rows.Count == 1)
        {
            return SetJobIdAsync(rows[0].ExecutionId, rows[0].JobId, ct);
        }

        return RetryAsync(async token =>
        {
            var single = Sql.SetStepExecutionJobId;
            var text = new StringBuilder();
            var parameters = new List<BoundParameter>();
            var now = Now;
            foreach (var shape in single.Parameters.Where(p => p.Name is not ("Id" or "JobId")))
            {
                var (type, size) = StatementBinder.TypeOf(_dialect, shape);
                parameters.Add(new BoundParameter(shape.Name, shape.Kind, shape.Name == "Now" ? now
                    : throw new InvalidOperationException($"Statement {single.Name} takes @{shape.Name}; the store passes only @Id, @JobId and @Now."),
                    type ?? DbType.DateTime, size));
            }

            var id = single.Parameters.First(p => p.Name == "Id");
            var job = single.Parameters.First(p => p.Name == "JobId");
            for (var i = 0; i < rows.Count; i++)
            {
                text.Append(PerRowParameter().Replace(single.Text, m => m.Value + "_" + i.ToString(CultureInfo.InvariantCulture))).Append(' ');
                var (idType, _) = StatementBinder.TypeOf(_dialect, id);
                var (jobType, jobSize) = StatementBinder.TypeOf(_dialect, job);
                parameters.Add(new BoundParameter($"Id_{i}", id.Kind, rows[i].ExecutionId, idType ?? DbType.Int64, null));
                parameters.Add(new BoundParameter($"JobId_{i}", job.Kind, ColumnLimits.JobId(rows[i].JobId), jobType ?? DbType.String, jobSize));
            }

            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var ownTransaction = Sql.CommitTransaction is null;
            await using var tx = ownTransaction ? await BeginAsync(connection, token).ConfigureAwait(false) : null;
            Statements?.Invoke(tx, text.ToString());
            await connection.ExecuteAsync(new CommandDefinition(text.ToString(), new BoundParameters([.. parameters]), tx,
                _dialect.CommandTimeoutSeconds, cancellationToken: token)).ConfigureAwait(false);
            if (tx is not null)
            {
                await tx.CommitAsync(token).ConfigureAwait(false);
            }

            return true;
        }, ct);
    }

    [GeneratedRegex(@"(?<![@\w])@(Id|JobId)(?![A-Za-z0-9_])", RegexOptions.CultureInvariant)]
    private static partial Regex PerRowParameter();
}
