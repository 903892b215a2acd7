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
            // Each row bound as the one-row write binds it; its @Id and @JobId then numbered, the rest (@Now) sent once.
            var single = Sql.SetStepExecutionJobId;
            var now = Now;
            var text = new StringBuilder();
            var parameters = new Dictionary<string, BoundParameter>(StringComparer.Ordinal);
            for (var i = 0; i < rows.Count; i++)
            {
                var suffix = "_" + i.ToString(CultureInfo.InvariantCulture);
                text.Append(PerRowParameter().Replace(single.Text, m => m.Value + suffix)).Append(' ');
                var bound = StatementBinder.Bind(_dialect, single, new { Id = rows[i].ExecutionId, JobId = ColumnLimits.JobId(rows[i].JobId), Now = now });
                foreach (var parameter in bound.Parameters)
                {
                    var name = parameter.Name is "Id" or "JobId" ? parameter.Name + suffix : parameter.Name;
                    parameters.TryAdd(name, parameter with { Name = name });
                }
            }

            await using var connection = await OpenAsync(token).ConfigureAwait(false);
            var ownTransaction = Sql.CommitTransaction is null;
            await using var tx = ownTransaction ? await BeginAsync(connection, token).ConfigureAwait(false) : null;
            Statements?.Invoke(tx, text.ToString());
            await connection.ExecuteAsync(new CommandDefinition(text.ToString(), new BoundParameters([.. parameters.Values]), tx,
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
