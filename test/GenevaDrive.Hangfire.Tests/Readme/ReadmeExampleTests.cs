using GenevaDrive.Definition;
using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace GenevaDrive.Tests.Readme;

public sealed class ReadmeExampleTests
{
    private static string FindRepositoryFile(string relativePath)
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relativePath);
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "GenevaDrive.Hangfire.sln")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"Could not find {relativePath} above {TestContext.CurrentContext.TestDirectory}.");
    }

    private static string Normalize(string text) =>
        string.Join("\n", text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd())).Trim();

    [Test]
    public void ReadmeExample_IsTheCompiledExample()
    {
        var source = File.ReadAllText(FindRepositoryFile("test/GenevaDrive.Hangfire.Tests/Readme/SignupWorkflow.cs"));
        var begin = source.IndexOf("// README:BEGIN", StringComparison.Ordinal) + "// README:BEGIN".Length;
        var end = source.IndexOf("// README:END", StringComparison.Ordinal);
        var example = Normalize(source[begin..end]);
        var readme = Normalize(File.ReadAllText(FindRepositoryFile("README.md")));

        Assert.That(readme, Does.Contain(example), "README.md must contain the SignupWorkflow example exactly as compiled in the tests.");
    }

    [TestCase("register")]
    [TestCase("control")]
    [TestCase("testing")]
    [TestCase("fencing")]
    [TestCase("backoff")]
    [TestCase("resumable")]
    [TestCase("idempotency")]
    [TestCase("events")]
    [TestCase("send-event")]
    public void ReadmeUsageBlock_IsTheCompiledCode(string block) =>
        AssertReadmeContainsBlock("test/GenevaDrive.Hangfire.Tests/Readme/ReadmeUsage.cs", block);

    [Test]
    public void ReadmeOpenTelemetryWiring_IsTheSamplesCompiledCode() =>
        AssertReadmeContainsBlock("src/GenevaDrive.Hangfire.Sample/Program.cs", "otel");

    private static void AssertReadmeContainsBlock(string file, string block)
    {
        var source = File.ReadAllText(FindRepositoryFile(file));
        var marker = $"// README:BEGIN {block}";
        var begin = source.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        var end = source.IndexOf("// README:END", begin, StringComparison.Ordinal);
        var lines = source[begin..end].Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n');
        var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        var example = Normalize(string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())));
        var readme = Normalize(File.ReadAllText(FindRepositoryFile("README.md")));

        Assert.That(readme, Does.Contain(example), $"README.md must contain the '{block}' example exactly as compiled in {file}.");
    }

    [Test]
    public async Task ReadmeUsage_StartsControlsAndTests()
    {
        var mailer = new Mock<IMailer>();
        var user = new User("7", "grace@example.com", IsDeactivated: false, HasCompletedSetup: true);

        var tested = await ReadmeUsage.TestAsync(mailer.Object, user);

        await using var host = GenevaDrive.Testing.WorkflowTestHost.Create(
            o => o.UseSqlite($"Data Source={Path.Combine(Path.GetTempPath(), $"readme-{Guid.NewGuid():N}.db")}").AddWorkflow<SignupWorkflow>()
                .AddHero<User>(u => u.Id, (sp, id, ct) => Task.FromResult<User?>(user)),
            s => s.AddSingleton(mailer.Object));
        var controlled = await ReadmeUsage.StartAndControlAsync(host.Client, user);

        Assert.Multiple(() =>
        {
            Assert.That(tested!.State, Is.EqualTo(WorkflowState.Finished));
            Assert.That(controlled.NextStepName, Is.EqualTo("send_reminder"), "skipping the welcome email schedules the reminder");
        });
        mailer.Verify(m => m.SendWelcomeAsync(user, It.IsAny<CancellationToken>()), Times.Once);
        mailer.Verify(m => m.SendTipAsync(user, It.IsAny<int>(), It.IsAny<CancellationToken>()), Times.Never, "tips are skipped once setup is done");
    }

    [Test]
    public void ReadmeRegistration_BuildsAContainerWithTheClient()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new Mock<IUserDirectory>().Object).AddSingleton(new Mock<IMailer>().Object);

        ReadmeUsage.Register(services, $"Data Source={Path.Combine(Path.GetTempPath(), $"readme-{Guid.NewGuid():N}.db")}");

        Assert.That(services.Any(d => d.ServiceType == typeof(IWorkflowClient)), Is.True);
    }

    [Test]
    public async Task ReadmeExample_ValidatesAndRunsItsSteps()
    {
        var mailer = new Mock<IMailer>();
        var services = new ServiceCollection().AddSingleton(mailer.Object).BuildServiceProvider();
        var registry = new WorkflowRegistry();
        registry.Register(typeof(SignupWorkflow));
        registry.ValidateAll(services);
        var workflow = ActivatorUtilities.CreateInstance<SignupWorkflow>(services);
        var user = new User("42", "ada@example.com", IsDeactivated: false, HasCompletedSetup: true);
        workflow.SetHero(user);

        var definition = registry.BindTo(workflow);
        await definition.GetStep("send_welcome_email").Body(CancellationToken.None);
        var reminder = await definition.GetStep("send_reminder").Body(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(definition.Name, Is.EqualTo("signup"));
            Assert.That(definition.Steps.Names, Is.EqualTo(new[]
            {
                "send_welcome_email", "send_reminder", "send_tip_1", "send_tip_2", "send_tip_3", "CompleteOnboardingAsync",
            }));
            Assert.That(definition.GetStep("send_tip_2").Wait, Is.EqualTo(TimeSpan.FromDays(2)));
            Assert.That(definition.GetStep("send_tip_2").ShouldSkip(), Is.True);
            Assert.That(reminder.Kind, Is.EqualTo(StepResultKind.Skip));
            Assert.That(definition.ShouldCancel(), Is.False);
            Assert.That(definition.ResolveExceptionPolicy(definition.GetStep("send_tip_1"), new TimeoutException()).Action,
                Is.EqualTo(ExceptionAction.Reattempt));
        });
        mailer.Verify(m => m.SendWelcomeAsync(user, It.IsAny<CancellationToken>()), Times.Once);
        mailer.Verify(m => m.SendReminderAsync(It.IsAny<User>(), It.IsAny<CancellationToken>()), Times.Never);
    }
}
