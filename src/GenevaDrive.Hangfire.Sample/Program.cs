using GenevaDrive;
using GenevaDrive.Sample;
using GenevaDrive.Sample.Demo;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.Storage.SQLite;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

SampleOptions sample;
try
{
    sample = SampleOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

Directory.CreateDirectory(sample.DataDirectory);
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
builder.WebHost.UseUrls($"http://127.0.0.1:{sample.Port}");
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Hangfire", LogLevel.Warning);

if (sample.Telemetry != "none")
{
    // GenevaDrive's ActivitySource and Meter are both named "GenevaDrive". With ASP.NET Core's instrumentation, the
    // request that starts a workflow and every step after it (in any process, hours later) form one trace.
    // README:BEGIN otel
    builder.Services.AddOpenTelemetry()
        .WithTracing(tracing =>
        {
            tracing.AddSource("GenevaDrive").AddAspNetCoreInstrumentation();
            _ = sample.Telemetry == "otlp" ? tracing.AddOtlpExporter() : tracing.AddConsoleExporter();
        })
        .WithMetrics(metrics =>
        {
            metrics.AddMeter("GenevaDrive");
            _ = sample.Telemetry == "otlp" ? metrics.AddOtlpExporter() : metrics.AddConsoleExporter();
        });
    // README:END
}

builder.Services.AddSingleton<DemoMailer>();
builder.Services.AddSingleton<FlakyPaymentGateway>();
builder.Services.AddSingleton<SubscriberList>();
builder.Services.AddAntiforgery();
builder.Services.AddGenevaDrive(options =>
{
    _ = sample.Storage switch
    {
        "postgresql" => options.UsePostgreSql(sample.Connection!),
        "sqlserver" => options.UseSqlServer(sample.Connection!),
        _ => options.UseSqlite($"Data Source={Path.Combine(sample.DataDirectory, "workflows.db")}"),
    };
    options.AddWorkflowsFromAssembly(typeof(Program).Assembly);
    // A short lease so that a step abandoned by `kill -9` is taken over within a minute (the default is 5 minutes).
    options.LeaseTimeout = TimeSpan.FromSeconds(30);
    options.AddHero<Customer>(customer => customer.Id, (_, id, _) => Task.FromResult<Customer?>(new Customer(id)));
    options.AddHero<Invoice>(invoice => invoice.Id, (_, id, _) => Task.FromResult<Invoice?>(new Invoice(id)));
});
builder.Services.AddHangfire((services, config) =>
{
    config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180).UseSimpleAssemblyNameTypeSerializer().UseRecommendedSerializerSettings();
    switch (sample.Storage)
    {
        case "postgresql":
            // Sliding invisibility redelivers a dead worker's job promptly (see docs/operations.md).
            config.UsePostgreSqlStorage(o => o.UseNpgsqlConnection(sample.Connection!),
                new PostgreSqlStorageOptions { UseSlidingInvisibilityTimeout = true, QueuePollInterval = TimeSpan.FromSeconds(1) });
            break;
        case "sqlserver":
            config.UseSqlServerStorage(sample.Connection!);
            break;
        default:
            config.UseSQLiteStorage(Path.Combine(sample.DataDirectory, "hangfire.db"),
                new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromSeconds(1) });
            break;
    }

    config.UseGenevaDrive(services);
});
builder.Services.AddHangfireServer(o =>
{
    o.Queues = ["critical", "default"];
    o.WorkerCount = 4;
    o.SchedulePollingInterval = TimeSpan.FromSeconds(1);
});

var app = builder.Build();
app.UseHangfireDashboard("/hangfire", new DashboardOptions { DashboardTitle = "GenevaDrive sample" });
app.MapGet("/", () => Results.Content(HomePage.Render(), "text/html"));
app.MapPost("/demo/start/{kind}", async (string kind, IWorkflowClient workflows) =>
{
    // A newsletter started from the home page is a "big" one: slow enough to kill the sample while it sends.
    var workflow = await DemoCatalog.StartAsync(workflows, kind, $"{(kind == "newsletter" ? "big" : kind)}-{Guid.NewGuid().ToString("N")[..6]}");
    return Results.Redirect($"/hangfire/genevadrive/workflows/{workflow.Id}");
});

app.MapPost("/demo/confirm", async (HttpRequest request, IWorkflowClient workflows) =>
{
    // The link in the confirmation mail lands here: the event wakes the customer's waiting signup workflow.
    var form = await request.ReadFormAsync();
    var customer = new Customer(form["customer"].ToString().Trim());
    var deliveries = await workflows.SendEventAsync<SignupWorkflow>(customer, "email_confirmed", new EmailConfirmed(DateTimeOffset.UtcNow));
    return deliveries.Count == 0
        ? Results.Content($"No signup of '{System.Net.WebUtility.HtmlEncode(customer.Id)}' is waiting. <a href=\"/\">Back</a>", "text/html")
        : Results.Redirect($"/hangfire/genevadrive/workflows/{deliveries[0].WorkflowId}");
});

app.Lifetime.ApplicationStarted.Register(() =>
{
    var workflows = app.Services.GetRequiredService<IWorkflowClient>();
    foreach (var (kind, customer) in DemoCatalog.AtStartup)
    {
        DemoCatalog.StartAsync(workflows, kind, customer).GetAwaiter().GetResult();
    }

    Console.WriteLine($"GenevaDrive sample on {sample.Storage} (data: {(sample.Storage == "sqlite" ? sample.DataDirectory : "server")}).");
    Console.WriteLine($"Dashboard: http://127.0.0.1:{sample.Port}/hangfire/genevadrive/workflows");
    Console.WriteLine($"Start more demos: http://127.0.0.1:{sample.Port}/");
});

if (sample.DemoSeconds is not { } seconds)
{
    await app.RunAsync();
    return 0;
}

await app.StartAsync();
await Task.Delay(TimeSpan.FromSeconds(seconds));
var client = app.Services.GetRequiredService<IWorkflowClient>();
Console.WriteLine($"After {seconds} s:");
foreach (var state in Enum.GetValues<WorkflowState>())
{
    var inState = await client.GetByStateAsync(state, limit: 1000);
    // Child workflows (the billing's invoices) are counted by type rather than listed one by one.
    var children = inState.Where(w => w.ParentWorkflowId is not null).GroupBy(w => w.Name).Select(g => $"{g.Count()} {g.Key}").ToList();
    var listed = inState.Where(w => w.ParentWorkflowId is null).Select(w => $"{w.Name}({w.HeroId})").ToList();
    Console.WriteLine($"  {state,-10} {inState.Count,3}  {string.Join(", ", listed)}{(children.Count == 0 ? "" : $" and children: {string.Join(", ", children)}")}");
}

await app.StopAsync();
return 0;
