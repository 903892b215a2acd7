using GenevaDrive.Testing;
using GenevaDrive.Tests.Execution;
using GenevaDrive.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Tests.Evolution;

/// <summary>
/// A deploy that changes a workflow while workflows of the old shape are in flight: version 1 runs step a (b is then
/// scheduled an hour later), and the next build — which removed, retired, renamed, inserted or reordered steps — takes
/// over the same database. For each change: what the next run, Skip, Resume and Jump do; that nothing finishes early;
/// and that every step that should run runs once.
/// </summary>
[TestFixtureSource(typeof(TestDatabase), nameof(TestDatabase.All))]
[Parallelizable(ParallelScope.None)]
public sealed class DefinitionChangeTests(string database)
{
    private TestDatabase? _db;
    private BuildProbe _probe = null!;
    private AccountDirectory _accounts = null!;
    private readonly List<WorkflowTestHost> _hosts = [];

    [SetUp]
    public void SetUp()
    {
        _db = TestDatabase.Create(database);
        _probe = new BuildProbe();
        _accounts = new AccountDirectory();
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        _hosts.Clear();
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    /// <summary>A build: one definition of "billing", on the shared database.</summary>
    private WorkflowTestHost Build<TWorkflow>(TimeSpan? grace = null)
        where TWorkflow : BillingBase
    {
        var host = WorkflowTestHost.Create(
            options =>
            {
                _db!.ConfigureStorage(options);
                options.AddWorkflow<TWorkflow>();
                options.AddHero<Account>(a => a.Id, (sp, id, ct) => sp.GetRequiredService<AccountDirectory>().FindAsync(id));
                if (grace is { } g)
                {
                    options.UndefinedStepGracePeriod = g;
                }
            },
            services => services.AddSingleton(_probe).AddSingleton(_accounts));
        _hosts.Add(host);
        return host;
    }

    /// <summary>Version 1 starts a workflow and runs step a; b is scheduled an hour later.</summary>
    private async Task<long> StartedOnVersion1Async(string hero)
    {
        var v1 = Build<BillingV1>();
        var workflow = await v1.Client.StartAsync<BillingV1>(_accounts.Add(hero));
        await v1.RunNextStepAsync(workflow.Id);
        Assert.That(_probe.Of(workflow.Id), Is.EqualTo(new[] { "v1:a" }));
        return workflow.Id;
    }

    private static Type BuildType(string change) => change switch
    {
        "removed" => typeof(BillingRemoved),
        "retired" => typeof(BillingRetired),
        "renamed" => typeof(BillingRenamed),
        "inserted" => typeof(BillingInserted),
        _ => typeof(BillingReordered),
    };

    private WorkflowTestHost NewBuild(string change) => change switch
    {
        "removed" => Build<BillingRemoved>(),
        "retired" => Build<BillingRetired>(),
        "renamed" => Build<BillingRenamed>(),
        "inserted" => Build<BillingInserted>(),
        _ => Build<BillingReordered>(),
    };

    // ---- The next run of the in-flight step --------------------------------------------------------

    [TestCase("retired", new[] { "v1:a", "retired:c", "retired:d" }, TestName = "NextRun_RetiredStep_IsSkippedAsDeclared_AndTheRestRuns")]
    [TestCase("renamed", new[] { "v1:a", "renamed:charge", "renamed:c", "renamed:d" }, TestName = "NextRun_RenamedStep_RunsUnderItsNewName")]
    [TestCase("inserted", new[] { "v1:a", "inserted:b", "inserted:b_half", "inserted:c", "inserted:d" }, TestName = "NextRun_InsertedStep_RunsInItsPlace")]
    [TestCase("reordered", new[] { "v1:a", "reordered:b", "reordered:d" }, TestName = "NextRun_ReorderedSteps_ContinueAfterTheStepInTheNewOrder")]
    public async Task NextRun_AfterTheDeploy_RunsEveryStepOnce(string change, string[] expected)
    {
        var id = await StartedOnVersion1Async(change);
        var next = NewBuild(change);

        var runs = await next.RunToEndAsync(id);
        var history = await next.Client.GetHistoryAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(_probe.Of(id), Is.EqualTo(expected), string.Join(" | ", runs.Select(r => r.Text)));
            Assert.That((await next.Client.GetAsync(id))!.State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(history.Count(h => h.State == StepExecutionState.Failed), Is.Zero);
        });
        if (change == "retired")
        {
            var retired = history.Single(h => h.StepName == "b");
            Assert.That(retired.State, Is.EqualTo(StepExecutionState.Skipped));
            Assert.That(runs.First().Text, Does.Contain("Step 'b' is retired in this build").And.Contain("continuing at 'c'"));
        }

        if (change == "renamed")
        {
            Assert.That(runs.First().Text, Does.Contain("Ran 'charge' (renamed from 'b')"));
        }
    }

    [Test]
    public async Task NextRun_RemovedStepWithoutADeclaration_PausesWithTheReason_AndNothingFinishes()
    {
        var id = await StartedOnVersion1Async("removed");
        var next = Build<BillingRemoved>();

        var run = await next.RunNextStepAsync(id);
        var workflow = (await next.Client.GetAsync(id))!;

        Assert.Multiple(() =>
        {
            Assert.That(workflow.State, Is.EqualTo(WorkflowState.Paused), "a single build: no other version can take it");
            Assert.That(run!.Exception, Is.TypeOf<StepNotDefinedException>());
            Assert.That(run.Exception!.Message, Does.Contain("has no step named 'b'").And.Contain("no running version defines it")
                .And.Contain("steps.Retired(\"b\""));
            Assert.That(_probe.Of(id), Is.EqualTo(new[] { "v1:a" }));
        });
    }

    // ---- Skip ------------------------------------------------------------------------------------

    [TestCase("retired", "c", new[] { "v1:a", "retired:c", "retired:d" })]
    [TestCase("renamed", "c", new[] { "v1:a", "renamed:c", "renamed:d" })]
    [TestCase("inserted", "b_half", new[] { "v1:a", "inserted:b_half", "inserted:c", "inserted:d" })]
    [TestCase("reordered", "d", new[] { "v1:a", "reordered:d" })]
    public async Task Skip_AfterTheDeploy_ContinuesAtTheDeclaredNextStep(string change, string next, string[] expected)
    {
        var id = await StartedOnVersion1Async(change);
        var build = NewBuild(change);

        var skipped = await build.Client.SkipAsync(id);
        await build.RunToEndAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(skipped.State, Is.EqualTo(WorkflowState.Ready), "a skip never finishes a workflow with steps left");
            Assert.That(skipped.NextStepName, Is.EqualTo(next));
            Assert.That(_probe.Of(id), Is.EqualTo(expected));
            Assert.That((await build.Client.GetAsync(id))!.State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Skip_OfAStepNoBuildDefines_IsRefused_AndChangesNothing_ThenJumpContinues()
    {
        var id = await StartedOnVersion1Async("removed-skip");
        var build = Build<BillingRemoved>();
        await build.RunNextStepAsync(id); // pauses: b is not defined
        var before = await build.Client.GetHistoryAsync(id);

        var refused = Assert.ThrowsAsync<StepNotDefinedException>(() => build.Client.SkipAsync(id))!;
        var afterRefusal = (await build.Client.GetAsync(id))!;
        var jumped = await build.Client.JumpToAsync(id, "c");
        await build.RunToEndAsync(id);
        var history = await build.Client.GetHistoryAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(refused.Message, Does.Contain("Cannot skip the current step of workflow").And.Contain("'b'")
                .And.Contain("Defined steps: 'a', 'c', 'd'").And.Contain("JumpToAsync"));
            Assert.That(afterRefusal.State, Is.EqualTo(WorkflowState.Paused), "the refused skip changed nothing");
            Assert.That((await build.Client.GetHistoryAsync(id)).Count, Is.GreaterThanOrEqualTo(before.Count));
            Assert.That(jumped.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(jumped.NextStepName, Is.EqualTo("c"));
            Assert.That(_probe.Of(id), Is.EqualTo(new[] { "v1:a", "removed:c", "removed:d" }));
            Assert.That((await build.Client.GetAsync(id))!.State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(history.Any(h => h.StepName == "c" && h.OperatorNote == "code jumped from 'b' to 'c'"), Is.True,
                "the history says who jumped from where to where");
        });
    }

    // ---- Resume ----------------------------------------------------------------------------------

    [TestCase("retired", new[] { "v1:a", "retired:c", "retired:d" }, WorkflowState.Finished)]
    [TestCase("renamed", new[] { "v1:a", "renamed:charge", "renamed:c", "renamed:d" }, WorkflowState.Finished)]
    [TestCase("inserted", new[] { "v1:a", "inserted:b", "inserted:b_half", "inserted:c", "inserted:d" }, WorkflowState.Finished)]
    [TestCase("reordered", new[] { "v1:a", "reordered:b", "reordered:d" }, WorkflowState.Finished)]
    [TestCase("removed", new[] { "v1:a" }, WorkflowState.Paused)]
    public async Task Resume_OfAWorkflowPausedBeforeTheDeploy_RunsAsTheNewBuildDeclares(string change, string[] expected, WorkflowState end)
    {
        var id = await StartedOnVersion1Async(change);
        await _hosts[0].Client.PauseAsync(id);
        var build = NewBuild(change);

        await build.Client.ResumeAsync(id);
        await build.RunToEndAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(_probe.Of(id), Is.EqualTo(expected));
            Assert.That((await build.Client.GetAsync(id))!.State, Is.EqualTo(end));
        });
    }

    // ---- Jump ------------------------------------------------------------------------------------

    [TestCase("retired")]
    [TestCase("renamed")]
    [TestCase("inserted")]
    [TestCase("reordered")]
    [TestCase("removed")]
    public async Task JumpBackToTheFirstStep_RunsTheRestOfTheNewShapeOnce(string change)
    {
        var id = await StartedOnVersion1Async(change);
        var build = NewBuild(change);
        var shape = build.Client.Describe(BuildType(change)).Steps.Select(s => s.Name).ToList();

        await build.Client.JumpToAsync(id, "a");
        await build.RunToEndAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(_probe.Of(id), Is.EqualTo(new[] { "v1:a" }.Concat(shape.Select(s => $"{change}:{s}"))));
            Assert.That((await build.Client.GetAsync(id))!.State, Is.EqualTo(WorkflowState.Finished));
        });
    }

    [Test]
    public async Task Jump_ToAStepTheBuildDoesNotDefine_IsRefusedWithTheDefinedSteps()
    {
        var id = await StartedOnVersion1Async("jump-refused");
        var build = Build<BillingRemoved>();

        var error = Assert.ThrowsAsync<StepNotDefinedException>(() => build.Client.JumpToAsync(id, "b"))!;
        var workflow = (await build.Client.GetAsync(id))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("has no step named 'b'").And.Contain("'a', 'c', 'd'"));
            Assert.That(workflow.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(workflow.NextStepName, Is.EqualTo("b"), "nothing changed");
        });
    }

    // ---- Drift report ----------------------------------------------------------------------------

    [Test]
    public async Task DriftReport_NamesEachTypeAndStepTheBuildCannotRun_WithCounts()
    {
        for (var i = 0; i < 3; i++)
        {
            await StartedOnVersion1Async($"drift-{i}");
        }

        var paused = await StartedOnVersion1Async("drift-paused");
        await _hosts[0].Client.PauseAsync(paused);
        var removed = Build<BillingRemoved>();
        var retired = Build<BillingRetired>();

        var fromRemoved = await removed.Client.GetDefinitionDriftAsync();
        var fromRetired = await retired.Client.GetDefinitionDriftAsync();

        Assert.Multiple(() =>
        {
            Assert.That(fromRemoved.Problems.Select(p => (p.WorkflowName, p.StepName, p.State, p.Count, p.Kind)), Is.EquivalentTo(new[]
            {
                ("billing", "b", WorkflowState.Ready, 3L, DriftKind.StepNotDefined),
                ("billing", "b", WorkflowState.Paused, 1L, DriftKind.StepNotDefined),
            }));
            Assert.That(fromRemoved.ProblemCount, Is.EqualTo(4));
            Assert.That(fromRetired.ProblemCount, Is.Zero, "a declared retirement is not a problem");
            Assert.That(fromRetired.Steps.Select(s => (s.StepName, s.Kind)).Distinct(), Is.EqualTo(new[] { ("b", DriftKind.Retired) }),
                "it is still listed, so the team knows when the declaration can go");
        });
    }
}
