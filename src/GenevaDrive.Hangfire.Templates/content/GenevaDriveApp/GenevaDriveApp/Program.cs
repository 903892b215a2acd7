using GenevaDrive;
using GenevaDriveApp;
using Hangfire;
using Hangfire.Storage.SQLite;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddSingleton<UserDirectory>();
builder.Services.AddGenevaDrive(options => options
    .UseSqlite("Data Source=workflows.db")
    .AddWorkflow<WelcomeWorkflow>()
    .AddHero<User>(user => user.Id, (services, id, ct) => Task.FromResult(services.GetRequiredService<UserDirectory>().Find(id))));

builder.Services.AddHangfire((services, config) => config
    .UseStorage(new SQLiteStorage("hangfire.db", new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromSeconds(1) }))
    .UseGenevaDrive(services));
// Waits and backoffs run at Hangfire's schedule poll (15 s by default): a short poll keeps short waits on time. Registered
// in the container, these options are the Hangfire server's, and GenevaDrive's start-up report reads them too.
builder.Services.AddSingleton(new BackgroundJobServerOptions { SchedulePollingInterval = TimeSpan.FromSeconds(1) });
builder.Services.AddHangfireServer();
builder.Services.AddAntiforgery();   // the Workflows pages' commands are POST forms checked by antiforgery
builder.Services.AddHealthChecks().AddGenevaDrive();

var app = builder.Build();
// Local requests only, Hangfire's default: give DashboardOptions.Authorization before you deploy.
app.UseHangfireDashboard("/hangfire");
app.MapHealthChecks("/health");

// Start a workflow: curl -X POST http://localhost:5000/users/ada
app.MapPost("/users/{id}", async (string id, UserDirectory users, IWorkflowClient workflows) =>
{
    var workflow = await workflows.StartOrGetExistingAsync<WelcomeWorkflow, User>(users.Add(id));
    return Results.Ok(new { workflow.Id, State = workflow.State.ToString(), Dashboard = $"/hangfire/genevadrive/workflows/{workflow.Id}" });
});
app.MapGet("/", () => Results.Redirect("/hangfire/genevadrive/workflows"));

app.Run();
