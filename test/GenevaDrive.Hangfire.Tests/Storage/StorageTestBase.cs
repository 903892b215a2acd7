using Dapper;
using GenevaDrive.Execution;
using GenevaDrive.Storage;
using Microsoft.Extensions.Time.Testing;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>Runs each derived fixture once per database: SQLite files, PostgreSQL and SQL Server servers.</summary>
[TestFixtureSource(typeof(TestDatabase), nameof(TestDatabase.AllWithSqlServerModes))]
[Parallelizable(ParallelScope.None)]
public abstract class StorageTestBase(string database)
{
    protected static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private TestDatabase? _db;

    protected string Database { get; } = database;

    protected FakeTimeProvider Clock { get; private set; } = null!;

    internal WorkflowStore Store { get; private set; } = null!;

    internal TestDatabase Db => _db!;

    protected virtual bool InstallSchema => true;

    [SetUp]
    public async Task CreateDatabase()
    {
        _db = TestDatabase.Create(Database);
        if (InstallSchema)
        {
            await _db.InstallAsync();
        }

        Clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero));
        Store = new WorkflowStore(_db.Dialect, Clock);
    }

    [TearDown]
    public async Task DropDatabase()
    {
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    protected DateTime Now => Clock.GetUtcNow().UtcDateTime;

    /// <summary>A fault the store retries, as this database reports it.</summary>
    protected Exception TransientFault() => Database switch
    {
        "sqlite" => new Microsoft.Data.Sqlite.SqliteException("database is locked (injected)", 5),
        "postgresql" => new Npgsql.PostgresException("terminating connection due to administrator command (injected)", "FATAL", "FATAL", "57P01"),
        _ => new TimeoutException("injected"),
    };

    internal static NewWorkflow Spec(string heroId = "1", string? firstStep = "first", TimeSpan? wait = null,
        bool allowMultiple = false, string type = "signup") =>
        new(type, "User", heroId, allowMultiple, firstStep, wait);

    internal Task<CreatedWorkflow> StartAsync(string heroId = "1", string? firstStep = "first", TimeSpan? wait = null) =>
        Store.CreateAsync(Spec(heroId, firstStep, wait));

    /// <summary>Starts a workflow and claims its first execution.</summary>
    internal async Task<(CreatedWorkflow Created, ClaimResult Claim)> StartAndClaimAsync(string heroId = "1")
    {
        var created = await StartAsync(heroId);
        var claim = await Store.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease);
        Assert.That(claim.Outcome, Is.EqualTo(ClaimOutcome.Claimed), claim.Reason);
        return (created, claim);
    }

    internal static StepCompletion Success(string? next, TimeSpan? wait = null) => new()
    {
        ExecutionState = StepExecutionState.Completed,
        Outcome = StepOutcome.Success,
        WorkflowState = next is null ? WorkflowState.Finished : WorkflowState.Ready,
        NextStepName = next,
        Schedule = next is null ? null : new NextStep(next, wait ?? TimeSpan.Zero),
    };

    internal static StepCompletion FailedAndPaused(string step) => new()
    {
        ExecutionState = StepExecutionState.Failed,
        Outcome = StepOutcome.Failed,
        WorkflowState = WorkflowState.Paused,
        NextStepName = step,
        ErrorClassName = "System.TimeoutException",
        ErrorMessage = "The mail server did not answer.",
        ErrorBacktrace = "at Mailer.Send()",
    };

    internal static StepCompletion Reattempted(string step, string reason) => new()
    {
        ExecutionState = StepExecutionState.Completed,
        Outcome = StepOutcome.Reattempted,
        WorkflowState = WorkflowState.Ready,
        NextStepName = step,
        Schedule = new NextStep(step, TimeSpan.Zero),
        Metadata = StepExecutionMetadata.Empty.WithReason(reason).ToJson(),
    };

    /// <summary>Writes a workflow row as-is, as an outside process (or an operator) would.</summary>
    internal async Task OverwriteAsync(WorkflowRecord workflow)
    {
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await connection.ExecuteAsync(Db.Dialect.Sql.UpdateWorkflow.Text, workflow);
    }

    /// <summary>Writes a step execution row as-is.</summary>
    internal async Task OverwriteAsync(StepExecutionRecord execution)
    {
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        await connection.ExecuteAsync(Db.Dialect.Sql.UpdateStepExecution.Text, execution);
    }

    internal async Task<WorkflowRecord> WorkflowAsync(long id) => (await Store.GetWorkflowAsync(id))!;

    internal async Task<StepExecutionRecord> ExecutionAsync(long id) => (await Store.GetStepExecutionAsync(id))!;
}

internal static class MetadataTestExtensions
{
    public static StepExecutionMetadata WithReason(this StepExecutionMetadata metadata, string reason)
    {
        metadata.ReattemptReason = reason;
        return metadata;
    }
}
