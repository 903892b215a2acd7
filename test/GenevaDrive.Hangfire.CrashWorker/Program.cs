using GenevaDrive;
using GenevaDrive.CrashWorker;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;

// Usage: CrashWorker <postgresql|sqlite> <workflow connection string> <schema-or-prefix> <hangfire schema or file>
//                    <lease seconds> <marker directory> [slow item milliseconds]
// With slow item milliseconds, steps do not hang: the resumable import takes that long per item (a worker to freeze).
// Runs a Hangfire server with GenevaDrive through the public, container-free configuration until killed.
if (args.Length is not (6 or 7))
{
    Console.Error.WriteLine("usage: CrashWorker <postgresql|sqlite> <workflow-connection> <schema-or-prefix> <hangfire-schema-or-file> <lease-seconds> <marker-dir> [slow-item-ms]");
    return 2;
}

var (kind, connection, schema, hangfire, leaseSeconds, markers) = (args[0], args[1], args[2], args[3], int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture), args[5]);
var slowItem = args.Length == 7 ? TimeSpan.FromMilliseconds(int.Parse(args[6], System.Globalization.CultureInfo.InvariantCulture)) : TimeSpan.Zero;
var configuration = GlobalConfiguration.Configuration;
if (kind == "postgresql")
{
    var options = new PostgreSqlStorageOptions { SchemaName = hangfire, QueuePollInterval = TimeSpan.FromMilliseconds(200), UseSlidingInvisibilityTimeout = true };
    configuration.UseStorage(new PostgreSqlStorage(new NpgsqlConnectionFactory(connection, options), options));
}
else
{
    configuration.UseStorage(new SQLiteStorage(hangfire, new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) }));
}

configuration.UseGenevaDrive(
    o =>
    {
        if (kind == "postgresql")
        {
            o.UsePostgreSql(connection, s => s.SchemaName = schema);
        }
        else
        {
            o.UseSqlite(connection, s => s.TablePrefix = schema);
        }

        o.LeaseTimeout = TimeSpan.FromSeconds(leaseSeconds);
        o.AddWorkflow<CrashableWorkflow>();
        o.AddWorkflow<ResumableCrashWorkflow>();
        o.AddWorkflow<EventWorkerWorkflow>();
        o.AddWorkflow<FanOutCrashWorkflow>();
        o.AddWorkflow<TicketChildWorkflow>();
        o.AddHero<Ticket>(t => t.Id, (_, id, _) => Task.FromResult<Ticket?>(new Ticket(id)));
    },
    services => services.AddSingleton(new CrashSettings { MarkerDirectory = markers, HangInStep = slowItem == TimeSpan.Zero, ItemDelay = slowItem }));

using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 2, SchedulePollingInterval = TimeSpan.FromMilliseconds(500) });
Console.WriteLine("ready");
await Task.Delay(Timeout.Infinite);
return 0;
