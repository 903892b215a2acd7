using GenevaDrive.Definition;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace GenevaDrive.Tests.Readme;

public sealed class ReadmeExampleTests
{
    // Every compiled file that holds code shown in README.md or docs/**/*.md, between "// README:BEGIN [name]" and "// README:END".
    private static readonly string[] CompiledSources =
    [
        "test/GenevaDrive.Hangfire.Tests/Readme/SignupWorkflow.cs",
        "test/GenevaDrive.Hangfire.Tests/Readme/ReadmeUsage.cs",
        "test/GenevaDrive.Hangfire.Tests/Readme/DocsSnippets.cs",
        "test/GenevaDrive.Hangfire.Tests/Readme/ChildrenSnippets.cs",
        "src/GenevaDrive.Hangfire.Sample/Program.cs",
    ];

    private static readonly string[] CSharpFences = ["csharp", "cs", "c#"];

    private static string RepositoryRoot() => GenevaDrive.Tests.Layout.RepositoryPaths.Root();

    private static string FindRepositoryFile(string relativePath)
    {
        var candidate = Path.Combine(RepositoryRoot(), relativePath);
        return File.Exists(candidate) ? candidate : throw new FileNotFoundException($"Could not find {relativePath} in the repository.");
    }

    private static string Normalize(string text) =>
        string.Join("\n", text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd())).Trim();

    /// <summary>README.md and every page under docs/, as repository-relative paths.</summary>
    private static List<string> Documents()
    {
        var root = RepositoryRoot();
        return Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .Prepend("README.md")
            .ToList();
    }

    /// <summary>The C# blocks of a document, dedented (a block may sit in a list item) and normalized.</summary>
    private static List<string> CSharpBlocksOf(string relativePath) =>
        FencedBlocks(File.ReadAllText(FindRepositoryFile(relativePath)).Replace("\r", string.Empty, StringComparison.Ordinal))
            .Where(b => CSharpFences.Contains(b.Language, StringComparer.OrdinalIgnoreCase))
            .Select(b => b.Text)
            .ToList();

    /// <summary>Every marked block of the compiled sources: its file, its name ("" for the unnamed one) and its dedented text.</summary>
    private static List<(string File, string Name, string Text)> CompiledBlocks()
    {
        const string begin = "// README:BEGIN";
        var blocks = new List<(string File, string Name, string Text)>();
        foreach (var file in CompiledSources)
        {
            var source = File.ReadAllText(FindRepositoryFile(file)).Replace("\r", string.Empty, StringComparison.Ordinal);
            for (var at = source.IndexOf(begin, StringComparison.Ordinal); at >= 0; at = source.IndexOf(begin, at + begin.Length, StringComparison.Ordinal))
            {
                var lineEnd = source.IndexOf('\n', at);
                var name = source[(at + begin.Length)..lineEnd].Trim();
                var end = source.IndexOf("// README:END", lineEnd, StringComparison.Ordinal);
                Assert.That(end, Is.GreaterThan(lineEnd), $"{file}: the block '{name}' has no README:END");
                var lines = source[(lineEnd + 1)..end].Split('\n');
                var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
                blocks.Add((file, name, Normalize(string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())))));
            }
        }

        return blocks;
    }

    private static string Block(string name) => CompiledBlocks().Single(b => b.Name == name).Text;

    /// <summary>The fenced code blocks of a Markdown text: the fence's info string and the dedented content.</summary>
    private static List<(string Language, string Text, int Line)> FencedBlocks(string markdown)
    {
        var blocks = new List<(string Language, string Text, int Line)>();
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var indent = lines[i].Length - trimmed.Length;
            var language = trimmed[3..].Trim();
            var content = new List<string>();
            var start = i + 1;
            for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal); i++)
            {
                content.Add(lines[i].Length >= indent && lines[i][..indent].Trim().Length == 0 ? lines[i][indent..] : lines[i].TrimStart());
            }

            blocks.Add((language, Normalize(string.Join("\n", content)), start));
        }

        return blocks;
    }

    [Test]
    public void ReadmeExample_IsTheCompiledExample() =>
        Assert.That(CSharpBlocksOf("README.md"), Does.Contain(Block("")), "README.md must show the SignupWorkflow example exactly as compiled in the tests.");

    [TestCase("register", "docs/running-on-hangfire.md")]
    [TestCase("control", "docs/running-on-hangfire.md")]
    [TestCase("dashboard", "docs/running-on-hangfire.md")]
    [TestCase("otel", "docs/running-on-hangfire.md")]
    [TestCase("testing", "docs/running-on-hangfire.md")]
    [TestCase("fencing", "docs/internals/how-a-step-runs.md")]
    [TestCase("backoff", "docs/defining-workflows.md")]
    [TestCase("resumable", "docs/defining-workflows.md")]
    [TestCase("idempotency", "docs/defining-workflows.md")]
    [TestCase("events", "docs/defining-workflows.md")]
    [TestCase("send-event", "docs/defining-workflows.md")]
    [TestCase("rename", "docs/changing-workflows.md")]
    [TestCase("retire", "docs/changing-workflows.md")]
    [TestCase("children", "docs/child-workflows.md")]
    public void DocumentedBlock_IsTheCompiledCode(string block, string document)
    {
        var compiled = CompiledBlocks().Single(b => b.Name == block);

        Assert.That(CSharpBlocksOf(document), Does.Contain(compiled.Text), $"{document} must show the '{block}' example exactly as compiled in {compiled.File}.");
    }

    [Test]
    public void EveryCompiledBlock_HasAUniqueName_AndIsShownInTheDocumentation()
    {
        var blocks = CompiledBlocks();
        var shown = Documents().SelectMany(CSharpBlocksOf).ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            Assert.That(blocks.Select(b => b.Name), Is.Unique, "block names are unique across the compiled sources");
            foreach (var (file, name, text) in blocks)
            {
                Assert.That(shown.Contains(text), Is.True,
                    $"the block '{name}' of {file} is shown in README.md or a page under docs/");
            }
        });
    }

    [Test]
    public void EveryCodeBlockInTheDocumentation_IsTagged_AndEveryCSharpBlockIsCompiledCode()
    {
        var compiled = CompiledBlocks().Select(b => b.Text).ToHashSet(StringComparer.Ordinal);
        var checkedBlocks = 0;

        Assert.Multiple(() =>
        {
            foreach (var document in Documents())
            {
                foreach (var (language, text, line) in FencedBlocks(File.ReadAllText(FindRepositoryFile(document)).Replace("\r", string.Empty, StringComparison.Ordinal)))
                {
                    Assert.That(language, Is.Not.Empty, $"{document}:{line}: give the code block a language (```csharp, ```bash, ```text, …)");
                    if (CSharpFences.Contains(language, StringComparer.OrdinalIgnoreCase))
                    {
                        checkedBlocks++;
                        Assert.That(compiled.Contains(text), Is.True,
                            $"{document}:{line}: this C# block is not a compiled block; copy it from (or add it to) a README:BEGIN block of {string.Join(", ", CompiledSources)}:\n{text}");
                    }
                }
            }
        });
        Assert.That(checkedBlocks, Is.GreaterThanOrEqualTo(CompiledBlocks().Count), "every compiled block is shown, so at least that many C# blocks were found");
    }

    [Test]
    public async Task DocsDashboardSnippet_BuildsTheApp()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Services.AddHangfire(config => config.UseInMemoryStorage());
        try
        {
            await using var app = DocsSnippets.Dashboard(builder);

            Assert.That(app.Services.GetService<Microsoft.AspNetCore.Antiforgery.IAntiforgery>(), Is.Not.Null);
        }
        finally
        {
            // AddHangfire points Hangfire's process-wide log provider and activator at this app, whose logger factory is now
            // disposed: hand later tests the defaults back.
            global::Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
            JobActivator.Current = new JobActivator();
        }
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
