using Dapper;
using Microsoft.Data.SqlClient;
using Testcontainers.MsSql;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Where the SQL Server tests run: the server in GENEVADRIVE_TEST_SQLSERVER, or else — when a Docker engine
/// is reachable — a SQL Server 2022 container started once per test run with Testcontainers (removed when the
/// run ends). Each mode gets a database of its own: the default settings, READ_COMMITTED_SNAPSHOT on (as in
/// Azure SQL), and compatibility level 120 (a database restored from SQL Server 2014).
/// </summary>
internal static class SqlServerServer
{
    public const string Default = "sqlserver";
    public const string ReadCommittedSnapshot = "sqlserver-rcsi";
    public const string CompatibilityLevel120 = "sqlserver-cl120";

    private static readonly Lazy<Task<string>> Container = new(StartContainerAsync);
    private static readonly Dictionary<string, string> Databases = [];

    /// <summary>Whether a Docker engine looks reachable (DOCKER_HOST, or the default socket or pipe).</summary>
    public static bool DockerReachable =>
        !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("DOCKER_HOST")) ||
        File.Exists("/var/run/docker.sock") ||
        (OperatingSystem.IsWindows() && File.Exists(@"\\.\pipe\docker_engine"));

    /// <summary>The connection string of the given mode's database, or null when there is no SQL Server to use.</summary>
    public static string? ConnectionString(string mode)
    {
        var configured = Environment.GetEnvironmentVariable(TestDatabase.SqlServerVariable);
        string server;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            server = configured;
        }
        else if (DockerReachable)
        {
            server = Container.Value.GetAwaiter().GetResult();
        }
        else
        {
            return null;
        }

        return mode == Default ? server : DatabaseFor(server, mode);
    }

    private static async Task<string> StartContainerAsync()
    {
#pragma warning disable CS0618 // The builder's default image is the SQL Server 2022 image Testcontainers maintains.
        var container = new MsSqlBuilder().Build();
#pragma warning restore CS0618
        await container.StartAsync();
        return container.GetConnectionString();
    }

    private static string DatabaseFor(string server, string mode)
    {
        lock (Databases)
        {
            if (Databases.TryGetValue(mode, out var known))
            {
                return known;
            }

            var name = mode.Replace('-', '_');
            using (var connection = new SqlConnection(new SqlConnectionStringBuilder(server) { InitialCatalog = "master" }.ConnectionString))
            {
                connection.Open();
                connection.Execute($"IF DB_ID(N'{name}') IS NULL CREATE DATABASE [{name}];");
                connection.Execute(mode == ReadCommittedSnapshot
                    ? $"ALTER DATABASE [{name}] SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE;"
                    : $"ALTER DATABASE [{name}] SET COMPATIBILITY_LEVEL = 120;");
            }

            var result = new SqlConnectionStringBuilder(server) { InitialCatalog = name }.ConnectionString;
            Databases[mode] = result;
            return result;
        }
    }
}
