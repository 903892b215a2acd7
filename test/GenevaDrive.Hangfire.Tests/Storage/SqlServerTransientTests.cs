using System.Reflection;
using GenevaDrive.SqlServer;
using Microsoft.Data.SqlClient;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Which SQL Server errors a whole-transaction retry can succeed after. Each number is classified through a real
/// <see cref="SqlException"/> (built the way SqlClient builds one from the server's error), without a server.
/// </summary>
public sealed class SqlServerTransientTests
{
    private static readonly SqlServerDialect Dialect = new("Server=127.0.0.1;Database=none;User Id=x;Password=y", new SqlServerWorkflowStorageOptions());

    [TestCase(1205, "deadlock victim")]
    [TestCase(1222, "lock request timeout")]
    [TestCase(1204, "lock resources exhausted")]
    [TestCase(121, "semaphore timeout on the network")]
    [TestCase(4221, "login timed out waiting for an availability-group replica")]
    [TestCase(976, "availability-group database not accessible (failover)")]
    [TestCase(978, "availability-group readable secondary not accessible")]
    [TestCase(983, "availability-group database not accessible in its role")]
    [TestCase(40143, "Azure SQL: connection could not be initialized")]
    [TestCase(40540, "Azure SQL: service error")]
    [TestCase(10928, "Azure SQL: resource limit")]
    [TestCase(10929, "Azure SQL: resource limit (minimum guarantee)")]
    public void ServerError_IsTransient(int number, string what) =>
        Assert.That(Dialect.IsTransient(SqlError(number)), Is.True, $"{number}: {what}");

    [TestCase(2627, "unique key violation")]
    [TestCase(547, "foreign key violation")]
    [TestCase(208, "invalid object name")]
    public void ServerError_IsNotTransient(int number, string what) =>
        Assert.That(Dialect.IsTransient(SqlError(number)), Is.False, $"{number}: {what}");

    [Test]
    public void PoolExhaustion_IsTransient() =>
        Assert.That(Dialect.IsTransient(new InvalidOperationException(
            "Timeout expired.  The timeout period elapsed prior to obtaining a connection from the pool.  This may have occurred because all pooled connections were in use and max pool size was reached.")),
            Is.True, "every pooled connection was busy: waiting and trying again helps");

    /// <summary>A SqlException carrying one server error, made through SqlClient's own internal factory.</summary>
    private static SqlException SqlError(int number)
    {
        const BindingFlags Internal = BindingFlags.NonPublic | BindingFlags.Instance;
        var errorCtor = typeof(SqlError).GetConstructors(Internal).OrderByDescending(c => c.GetParameters().Length).First();
        var arguments = errorCtor.GetParameters().Select<ParameterInfo, object?>((p, i) => p.ParameterType switch
        {
            var t when t == typeof(int) && i == 0 => number,
            var t when t == typeof(int) => 0,
            var t when t == typeof(uint) => 0u,
            var t when t == typeof(byte) => (byte)16,
            var t when t == typeof(string) => "injected",
            _ => null,
        }).ToArray();
        var error = (SqlError)errorCtor.Invoke(arguments);
        var collection = (SqlErrorCollection)typeof(SqlErrorCollection).GetConstructors(Internal).Single().Invoke(null);
        typeof(SqlErrorCollection).GetMethod("Add", Internal)!.Invoke(collection, [error]);
        var create = typeof(SqlException).GetMethods(BindingFlags.NonPublic | BindingFlags.Static)
            .Where(m => m.Name == "CreateException")
            .OrderBy(m => m.GetParameters().Length)
            .First(m => m.GetParameters()[0].ParameterType == typeof(SqlErrorCollection));
        var parameters = create.GetParameters().Select<ParameterInfo, object?>((p, i) => i == 0 ? collection : p.ParameterType == typeof(string) ? "16.0" : null).ToArray();
        var exception = (SqlException)create.Invoke(null, parameters)!;
        Assert.That(exception.Number, Is.EqualTo(number), "the factory kept the error number");
        return exception;
    }
}
