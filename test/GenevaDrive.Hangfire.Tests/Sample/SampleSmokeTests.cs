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
        // The home page's "Confirm e-mail" form: the event wakes ivy's waiting signup (or waits for it, if it came early).
        using (var http = new HttpClient { BaseAddress = new Uri(sample.BaseUrl) })
        using (var confirm = await http.PostAsync("/demo/confirm", new FormUrlEncodedContent([new("customer", "ivy")])))
        {
            Assert.That(confirm.IsSuccessStatusCode, Is.True, $"POST /demo/confirm answered {(int)confirm.StatusCode}");
            // The home page's "Monthly billing" button: a parent that starts 25 child invoice workflows and waits for them.
            using var billing = await http.PostAsync("/demo/start/billing", null);
            Assert.That(billing.IsSuccessStatusCode, Is.True, $"POST /demo/start/billing answered {(int)billing.StatusCode}");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await sample.Process.WaitForExitAsync(timeout.Token);

        TestContext.Out.WriteLine(sample.Output[sample.Output.IndexOf("After 25 s:", StringComparison.Ordinal)..]);
        Assert.Multiple(() =>
        {
            Assert.That(sample.Process.ExitCode, Is.Zero, sample.Output);
            Assert.That(sample.Output, Does.Contain("After 25 s:"));
            Assert.That(sample.Output, Does.Match(@"Paused\s+1\s+payment\(erin-flaky\)"), "the flaky card pauses after its reattempts");
            Assert.That(sample.Output, Does.Match(@"Canceled\s+1\s+subscription\(hank-closed\)"), "the closed account is canceled by its cancel condition");
            Assert.That(sample.Output, Does.Match(@"Finished\s+32\s+"),
                "onboarding, the wobbly payment, both trials, the newsletter, the confirmed signup, the monthly billing and its 25 invoices finish");
            Assert.That(sample.Output, Does.Match(@"Finished\s+32\s+.*monthly_billing\(billing-[0-9a-f]{6}\).* and children: 25 invoice"),
                "the summary lists the billing and counts its children");
            Assert.That(sample.Output, Does.Match(@"Monthly billing billing-[0-9a-f]{6}: 25 of 25 invoices issued, total 1030\.00 EUR"),
                "the billing woke after its last invoice and summed the amounts the invoices recorded");
            Assert.That(sample.Output, Does.Contain("signup(ivy)"), "the signup took its e-mail confirmation event");
            Assert.That(sample.Output, Does.Match(@"Mail to ivy: Welcome! Your e-mail was confirmed at [0-9]{2}:[0-9]{2}:[0-9]{2}"), "with the event's payload");
            Assert.That(sample.Output, Does.Contain("newsletter(weekly-digest)"), "the resumable newsletter went through its 3,000 subscribers in 5-second slices");
            Assert.That(sample.Output, Does.Match(@"Newsletter weekly-digest: resuming after subscriber [1-9][0-9]*"), "a later slice resumed from the cursor");
            Assert.That(sample.Output, Does.Match(@"Charged 49(\.00)? to dave as ch_[0-9]+ \(key gd-[0-9]+-[0-9a-f]{16}-2\)"),
                "the payment passed its idempotency key; the charge that went through was the second logical attempt");
        });
    }

    [Test]
    public async Task Newsletter_KilledMidSend_ResumesFromItsLastCheckpointAfterARestart()
    {
        var first = SampleProcess.Start();
        first.KeepData = true;
        string list;
        int sentBeforeKill;
        try
        {
            await first.WaitForOutputAsync("Dashboard: http://127.0.0.1:", TimeSpan.FromSeconds(60));
            using (var http = new HttpClient { BaseAddress = new Uri(first.BaseUrl) })
            {
                (await http.PostAsync("/demo/start/newsletter", null)).EnsureSuccessStatusCode();
            }

            var progress = await WaitForMatchAsync(first, @"Newsletter (big-[0-9a-f]{6}): sent to (1000|1500) of 3000", TimeSpan.FromSeconds(90));
            list = progress.Groups[1].Value;
            sentBeforeKill = int.Parse(progress.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            first.Process.Kill(entireProcessTree: true); // kill -9: no shutdown, no finalize
            await first.Process.WaitForExitAsync();
        }
        finally
        {
            await first.DisposeAsync();
        }

        await using var second = SampleProcess.StartIn(first.DataDirectory);
        var resumed = await WaitForMatchAsync(second, $@"Newsletter {list}: resuming after subscriber ([0-9]+)", TimeSpan.FromSeconds(150));
        await second.WaitForOutputAsync($"Newsletter {list}: sent to all 3000 subscribers", TimeSpan.FromSeconds(120));
        var cursor = int.Parse(resumed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        TestContext.Out.WriteLine($"killed after {sentBeforeKill} of 3000 subscribers; the restarted sample resumed after subscriber {cursor}");
        Assert.Multiple(() =>
        {
            Assert.That(cursor, Is.GreaterThanOrEqualTo(sentBeforeKill - 100), "resumed from a checkpoint taken at most about a second before the kill");
            Assert.That(second.Output, Does.Not.Contain($"Newsletter {list}: sent to 500 of 3000"), "the restarted sample did not start the list over");
        });
        try
        {
            Directory.Delete(first.DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Cleaned by the OS with the temp folder.
        }
    }

    private static async Task<System.Text.RegularExpressions.Match> WaitForMatchAsync(SampleProcess sample, string pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var match = System.Text.RegularExpressions.Regex.Match(sample.Output, pattern);
            if (match.Success)
            {
                return match;
            }

            if (sample.Process.HasExited || DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The sample did not print /{pattern}/ (exited: {sample.Process.HasExited}). Output:\n{sample.Output}");
            }

            await Task.Delay(200);
        }
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
