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
            Assert.That(sample.Output, Does.Match(@"Finished\s+5\s+"), "onboarding, the wobbly payment, both trials and the newsletter finish");
            Assert.That(sample.Output, Does.Contain("newsletter(weekly-digest)"), "the resumable newsletter went through its 3,000 subscribers in 5-second slices");
            Assert.That(sample.Output, Does.Match(@"Newsletter weekly-digest: resuming after subscriber [1-9][0-9]*"), "a later slice resumed from the cursor");
            Assert.That(sample.Output, Does.Match(@"Charged 49(\.00)? to dave as ch_[0-9]+ \(key gd-[0-9]+-[0-9a-f]{16}-2\)"),
                "the payment passed its idempotency key; the charge that went through was the second logical attempt");
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
