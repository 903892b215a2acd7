namespace GenevaDrive.Tests.Execution;

public sealed class ClientTests(string database) : EngineTestBase(database)
{
    [Test]
    public async Task Start_CreatesTheWorkflowAndDispatchesItsFirstStep()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        Assert.Multiple(() =>
        {
            Assert.That(workflow.Name, Is.EqualTo("three_steps"));
            Assert.That(workflow.HeroType, Is.EqualTo("GenevaDrive.Tests.Execution.Account"));
            Assert.That(workflow.HeroId, Is.EqualTo("acct-1"));
            Assert.That(workflow.State, Is.EqualTo(WorkflowState.Ready));
            Assert.That(Host.DispatchedSteps.Single().StepName, Is.EqualTo("first"));
        });
    }

    [TestCase("acct\0nul", "U+0000 at position 4")]
    [TestCase("line\nbreak", "U+000A at position 4")]
    public async Task Start_WithAHeroIdContainingControlCharacters_IsRefusedBeforeAnySql(string heroId, string detail)
    {
        var account = Accounts.Add(heroId);

        var error = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync<ThreeStepWorkflow>(account))!;

        Assert.Multiple(async () =>
        {
            Assert.That(error.Message, Does.Contain("must not contain control characters"));
            Assert.That(error.Message, Does.Contain(detail));
            Assert.That(error.Message.Any(char.IsControl), Is.False, "the value is echoed escaped");
            Assert.That(Host.DispatchedSteps, Is.Empty);
            Assert.That(await Client.GetByStateAsync(WorkflowState.Ready), Is.Empty, "nothing was written");
        });
    }

    [TestCase(" ")]
    [TestCase("   ")]
    public async Task Start_WithABlankHeroId_IsRefused_NamingTheRule(string heroId)
    {
        var account = Accounts.Add(heroId);

        var error = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync<ThreeStepWorkflow>(account))!;

        Assert.Multiple(async () =>
        {
            Assert.That(error.Message, Does.Contain("Hero ids must not be blank").And.Contain($"{heroId.Length} white-space character(s)"));
            Assert.That(await Client.GetByStateAsync(WorkflowState.Ready), Is.Empty, "nothing was written");
        });
    }

    [Test]
    public void Start_WithAnOverlongHeroId_IsRefused_AndTheMessageEchoesOnlyItsStart()
    {
        var account = Accounts.Add(new string('x', 10_000));

        var error = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync<ThreeStepWorkflow>(account))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("1 to 200 characters"));
            Assert.That(error.Message, Does.Contain("(10000 characters)"));
            Assert.That(error.Message, Has.Length.LessThan(600), "the 10,000-character value is not echoed whole");
        });
    }

    [Test]
    public async Task SecondStart_ForTheSameHero_Throws_AndStartOrGetReturnsTheFirst()
    {
        var first = await StartAsync<ThreeStepWorkflow>();
        var account = (await Accounts.FindAsync("acct-1"))!;

        var error = Assert.ThrowsAsync<WorkflowAlreadyExistsException>(() => Client.StartAsync<ThreeStepWorkflow>(account))!;
        var existing = await Client.StartOrGetExistingAsync<ThreeStepWorkflow>(account);
        var multiple = await Client.StartAsync<ThreeStepWorkflow>(account, new StartOptions { AllowMultiple = true });

        Assert.Multiple(async () =>
        {
            Assert.That(error.ExistingWorkflowId, Is.EqualTo(first.Id));
            Assert.That(existing.Id, Is.EqualTo(first.Id));
            Assert.That(multiple.Id, Is.Not.EqualTo(first.Id));
            Assert.That(await Client.GetByHeroAsync(account), Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task StartOrGet_AfterTheFirstEnded_StartsANewOne()
    {
        var first = await StartAsync<ThreeStepWorkflow>();
        await Client.CancelAsync(first.Id);

        var second = await Client.StartOrGetExistingAsync<ThreeStepWorkflow>((await Accounts.FindAsync("acct-1"))!);

        Assert.That(second.Id, Is.Not.EqualTo(first.Id));
    }

    [Test]
    public async Task StartInTheCallersTransaction_DispatchesOnlyWhenAskedAfterCommit()
    {
        var account = Accounts.Add("tx");
        await using var connection = Db.Dialect.CreateConnection();
        await connection.OpenAsync();
        WorkflowInfo workflow;
        await using (var tx = await connection.BeginTransactionAsync())
        {
            workflow = await Client.StartAsync<ThreeStepWorkflow>(account, connection, tx);
            await tx.CommitAsync();
        }

        var beforeDispatch = Host.DispatchedSteps.Count;
        var jobId = await Client.DispatchAsync(workflow.Id);

        Assert.Multiple(() =>
        {
            Assert.That(beforeDispatch, Is.Zero);
            Assert.That(Host.DispatchedSteps.Single().StepName, Is.EqualTo("first"));
            Assert.That(jobId, Is.Null, "the test host records dispatches without creating jobs");
        });
    }

    [Test]
    public void Start_WithTheWrongHeroType_SaysWhichTypeItWants()
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => Client.StartAsync<ThreeStepWorkflow>("not an account"))!;

        Assert.That(error.Message, Does.Contain("'three_steps' is about Account heroes, but was started with a String"));
    }

    [Test]
    public async Task TypedStart_StartsWithTheHerosType_AndAHeroOfAnotherTypeBreaksTheConstraint()
    {
        var account = Accounts.Add("typed-1");

        var started = await Client.StartAsync<ThreeStepWorkflow, Account>(account);
        var again = await Client.StartOrGetExistingAsync<ThreeStepWorkflow, Account>(account);
        // What the compiler refuses for client.StartAsync<ThreeStepWorkflow, Member>(member), shown at run time.
        var typedStart = typeof(WorkflowClientExtensions).GetMethods().Single(m => m.Name == nameof(WorkflowClientExtensions.StartAsync));

        Assert.Multiple(() =>
        {
            Assert.That(started.HeroId, Is.EqualTo("typed-1"));
            Assert.That(again.Id, Is.EqualTo(started.Id), "the ongoing workflow is returned");
            Assert.That(() => typedStart.MakeGenericMethod(typeof(ThreeStepWorkflow), typeof(Member)), Throws.ArgumentException);
            Assert.That(() => typedStart.MakeGenericMethod(typeof(ThreeStepWorkflow), typeof(Account)), Throws.Nothing);
        });
    }

    [Test]
    public async Task Queries_ByStateOngoingAndHero()
    {
        var a = await StartAsync<ThreeStepWorkflow>("a");
        var b = await StartAsync<ThreeStepWorkflow>("b");
        await Client.PauseAsync(b.Id);
        await StartAsync<EmptyWorkflow>("c");

        Assert.Multiple(async () =>
        {
            Assert.That((await Client.GetByStateAsync(WorkflowState.Paused)).Select(w => w.Id), Is.EqualTo(new[] { b.Id }));
            Assert.That((await Client.GetOngoingAsync()).Select(w => w.Id), Is.EquivalentTo(new[] { a.Id, b.Id }));
            Assert.That(await Client.GetAsync(999_999), Is.Null);
            Assert.That((await Client.GetCurrentExecutionAsync(a.Id))!.StepName, Is.EqualTo("first"));
        });
    }

    [Test]
    public async Task TestHost_RunStep_JumpsToALaterStep_AndRefusesAStepThatDoesNotExist()
    {
        var workflow = await StartAsync<ThreeStepWorkflow>();

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => Host.RunStepAsync(workflow.Id, "fourth"))!;
        var run = await Host.RunStepAsync(workflow.Id, "third");

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Is.EqualTo($"Workflow {workflow.Id} (three_steps) has no step 'fourth'."));
            Assert.That(run.StepName, Is.EqualTo("third"));
            Assert.That(run.Outcome, Is.EqualTo(StepOutcome.Success));
            Assert.That(Probe.Events, Is.EqualTo(new[] { "third" }), "the scheduled first step was skipped to jump");
        });
    }
}
