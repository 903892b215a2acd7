using Dapper;
using Npgsql;

namespace GenevaDrive.Soak;

/// <summary>A takeover of an attempt (closed as 'recovered'), with the last time its lease was taken or renewed; both on the database's clock.</summary>
internal sealed record Takeover(long ExecutionId, DateTime At, DateTime? RenewedAt);

/// <summary>
/// Watches leases on the database's clock, which no worker's skew moves: a trigger on GenevaDrive's
/// StepExecutions notes (clock_timestamp()) when each attempt's lease was last taken or renewed, and when an
/// attempt was taken over. A takeover earlier than that renewal plus the lease took a lease that was still live.
/// Observation only: the trigger writes to the soak's own tables.
/// </summary>
internal sealed class LeaseWatch(SoakLedger ledger, string workflowSchema)
{
    /// <summary>Why the watch could not be installed (GenevaDrive's table changed shape), or null.</summary>
    public string? Problem { get; private set; }

    public async Task InstallAsync()
    {
        var s = ledger.Schema;
        try
        {
            await ledger.WriteAsync(c => c.ExecuteAsync(
                $"CREATE TABLE \"{s}\".leases (execution_id bigint PRIMARY KEY, renewed_at timestamptz NOT NULL); " +
                $"CREATE TABLE \"{s}\".takeovers (execution_id bigint PRIMARY KEY, at timestamptz NOT NULL, renewed_at timestamptz NULL); " +
                $"CREATE FUNCTION \"{s}\".watch_leases() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " +
                "  IF TG_OP = 'INSERT' THEN " +
                "    IF NEW.\"State\" = 'in_progress' THEN " +
                $"      INSERT INTO \"{s}\".leases VALUES (NEW.\"Id\", clock_timestamp()) ON CONFLICT (execution_id) DO UPDATE SET renewed_at = EXCLUDED.renewed_at; " +
                "    END IF; " +
                "  ELSIF NEW.\"State\" = 'in_progress' AND NEW.\"LeaseExpiresAt\" IS DISTINCT FROM OLD.\"LeaseExpiresAt\" THEN " +
                $"    INSERT INTO \"{s}\".leases VALUES (NEW.\"Id\", clock_timestamp()) ON CONFLICT (execution_id) DO UPDATE SET renewed_at = EXCLUDED.renewed_at; " +
                "  ELSIF OLD.\"State\" = 'in_progress' AND NEW.\"Outcome\" = 'recovered' THEN " +
                $"    INSERT INTO \"{s}\".takeovers SELECT NEW.\"Id\", clock_timestamp(), (SELECT renewed_at FROM \"{s}\".leases WHERE execution_id = NEW.\"Id\") " +
                "    ON CONFLICT (execution_id) DO NOTHING; " +
                "  END IF; " +
                "  RETURN NULL; " +
                "END $$; " +
                $"CREATE TRIGGER soak_watch_leases AFTER INSERT OR UPDATE ON \"{workflowSchema}\".\"StepExecutions\" " +
                $"FOR EACH ROW EXECUTE FUNCTION \"{s}\".watch_leases();"));
        }
        catch (PostgresException e)
        {
            Problem = e.MessageText;
        }
    }

    public async Task<List<Takeover>> TakeoversAsync() => Problem is not null
        ? []
        : [.. await ledger.WriteAsync(c => c.QueryAsync<Takeover>(
            $"SELECT execution_id AS ExecutionId, at AS At, renewed_at AS RenewedAt FROM \"{ledger.Schema}\".takeovers ORDER BY at;"))];
}
