using System.Data.Common;
using GenevaDrive;
using GenevaDrive.Storage;

namespace ExternalStorage.Tests;

/// <summary>
/// A storage written against the public contract only: it wraps the SQLite dialect (as a package adding, say,
/// encryption or a connection policy would) and counts the connections it hands out.
/// </summary>
public sealed class WrappedSqliteDialect(string connectionString, int contractVersion = StorageContract.Version) : SqlDialect
{
    private readonly SqlDialect _inner = GenevaDriveSqliteExtensions.CreateSqliteDialect(connectionString, o => o.TablePrefix = "Ext_");
    private int _connections;

    public int ConnectionsOpened => Volatile.Read(ref _connections);

    public override int ContractVersion => contractVersion;

    public override string Name => "wrapped SQLite";

    public override StorageStatements Sql => _inner.Sql;

    public override bool PrepareSchemaIfNecessary => true;

    public override int MaxBatchSize => _inner.MaxBatchSize;

    public override DbConnection CreateConnection()
    {
        Interlocked.Increment(ref _connections);
        return _inner.CreateConnection();
    }

    public override Task<DbTransaction> BeginTransactionAsync(DbConnection connection, CancellationToken ct) =>
        _inner.BeginTransactionAsync(connection, ct);

    public override bool IsUniqueViolation(Exception exception) => _inner.IsUniqueViolation(exception);

    protected override bool IsTransientFault(Exception exception) => _inner.IsTransient(exception);

    public override Task InstallSchemaAsync(CancellationToken ct) => _inner.InstallSchemaAsync(ct);

    public override System.Data.DbType? TypeOf(SqlParameterShape parameter) => _inner.TypeOf(parameter);

    public override void Dispose() => _inner.Dispose();
}
