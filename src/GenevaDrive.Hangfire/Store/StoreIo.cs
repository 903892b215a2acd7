using System.Data.Common;
using Dapper;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// How a store operation talks to the database: <see cref="Async"/> (the default, everywhere) or <see cref="Blocking"/>
/// (the lease protocol on a Hangfire worker thread, which waits for the claim and the finalize anyway: blocking calls
/// spare each round trip the hop to the thread pool and back). Passed explicitly down every call of an operation — no
/// ambient mode — and every I/O call of the operation goes through it, so one transaction never mixes the two. In
/// blocking mode every returned task has completed by the time it is returned, so awaiting it continues inline.
/// </summary>
internal readonly struct StoreIo
{
    private StoreIo(bool blocking) => IsBlocking = blocking;

    /// <summary>Asynchronous database calls (the default value).</summary>
    public static StoreIo Async => default;

    /// <summary>Blocking database calls, for a thread that waits for the result anyway.</summary>
    public static StoreIo Blocking => new(blocking: true);

    /// <summary>Whether calls block the calling thread.</summary>
    public bool IsBlocking { get; }

    public async ValueTask<DbConnection> OpenAsync(SqlDialect dialect, CancellationToken ct)
    {
        var connection = dialect.CreateConnection();
        try
        {
            if (IsBlocking)
            {
                connection.Open();
            }
            else
            {
                await connection.OpenAsync(ct).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await DisposeAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<DbTransaction> BeginAsync(SqlDialect dialect, DbConnection connection, CancellationToken ct) =>
        IsBlocking ? new(dialect.BeginTransaction(connection)) : new(dialect.BeginTransactionAsync(connection, ct));

    public ValueTask CommitAsync(DbTransaction tx, CancellationToken ct)
    {
        if (!IsBlocking)
        {
            return new(tx.CommitAsync(ct));
        }

        tx.Commit();
        return default;
    }

    public ValueTask<T?> SingleAsync<T>(DbConnection connection, CommandDefinition command) =>
        IsBlocking ? new(connection.QuerySingleOrDefault<T>(command)) : new(connection.QuerySingleOrDefaultAsync<T>(command));

    public ValueTask<T?> ScalarAsync<T>(DbConnection connection, CommandDefinition command) =>
        IsBlocking ? new(connection.ExecuteScalar<T>(command)) : new(connection.ExecuteScalarAsync<T>(command));

    public ValueTask<int> ExecuteAsync(DbConnection connection, CommandDefinition command) =>
        IsBlocking ? new(connection.Execute(command)) : new(connection.ExecuteAsync(command));

    public ValueTask<SqlMapper.GridReader> QueryMultipleAsync(DbConnection connection, CommandDefinition command) =>
        IsBlocking ? new(connection.QueryMultiple(command)) : new(connection.QueryMultipleAsync(command));

    public ValueTask<T?> ReadSingleOrDefaultAsync<T>(SqlMapper.GridReader grid) =>
        IsBlocking ? new(grid.ReadSingleOrDefault<T>()) : new(grid.ReadSingleOrDefaultAsync<T>());

    public ValueTask<T> ReadSingleAsync<T>(SqlMapper.GridReader grid) =>
        IsBlocking ? new(grid.ReadSingle<T>()) : new(grid.ReadSingleAsync<T>());

    public async ValueTask<DbDataReader> ExecuteReaderAsync(DbConnection connection, CommandDefinition command) =>
        IsBlocking
            ? (DbDataReader)connection.ExecuteReader(command)
            : await connection.ExecuteReaderAsync(command).ConfigureAwait(false);

    public ValueTask<bool> ReadAsync(DbDataReader reader, CancellationToken ct) =>
        IsBlocking ? new(reader.Read()) : new(reader.ReadAsync(ct));

    public ValueTask<bool> NextResultAsync(DbDataReader reader, CancellationToken ct) =>
        IsBlocking ? new(reader.NextResult()) : new(reader.NextResultAsync(ct));

    public ValueTask DisposeAsync<T>(T resource) where T : IAsyncDisposable, IDisposable
    {
        if (!IsBlocking)
        {
            return resource.DisposeAsync();
        }

        resource.Dispose();
        return default;
    }
}
