namespace GenevaDrive.Tests.Sample;

/// <summary>The README's first command, in its smoke-test form: the sample runs its demos and exits with a summary.</summary>
[NonParallelizable]
public sealed class SampleSmokeTests
{
    [Test]
    public async Task DemoSeconds_RunsTheDemos_PrintsASummary_AndExitsZero()
    {
        await using var sample = SampleProcess.Start("--demo-seconds", "25");

        await sample.WaitForOutputAsync("Dashboard: http://127.0.0.1:", TimeSpan.FromSeconds(60));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await sample.Process.WaitForExitAsync(timeout.Token);

        TestContext.Out.WriteLine(sample.Output[sample.Output.IndexOf("After 25 s:", StringComparison.Ordinal)..]);
        Assert.Multiple(() =>
        {
            Assert.That(sample.Process.ExitCode, Is.Zero, sample.Output);
            Assert.That(sample.Output, Does.Contain("After 25 s:"));
            Assert.That(sample.Output, Does.Match(@"Paused\s+1\s+payment\(erin-flaky\)"), "the flaky card pauses after its reattempts");
            Assert.That(sample.Output, Does.Match(@"Canceled\s+1\s+subscription\(hank-closed\)"), "the closed account is canceled by its cancel condition");
            Assert.That(sample.Output, Does.Match(@"Finished\s+4\s+"), "onboarding, the wobbly payment and both trials finish");
        });
    }

    [Test]
    public async Task BadArguments_AreExplained()
    {
        await using var sample = SampleProcess.Start("--storage", "oracle");

        await sample.Process.WaitForExitAsync();

        Assert.Multiple(() =>
        {
            Assert.That(sample.Process.ExitCode, Is.EqualTo(2));
            Assert.That(sample.Output, Does.Contain("--storage must be sqlite, postgresql or sqlserver; given 'oracle'"));
        });
    }
}
