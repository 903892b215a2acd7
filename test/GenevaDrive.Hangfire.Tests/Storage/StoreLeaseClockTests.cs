using System.Diagnostics;
using GenevaDrive.Storage;
using GenevaDrive.Store;

namespace GenevaDrive.Tests.Storage;

/// <summary>
/// Leases on the database's clock: two processes whose clocks disagree by half a lease still agree on when a lease runs
/// out. With leases on application clocks, the process whose clock runs ahead takes a step over (or the reconciler
/// recovers it) while the holder, whose fence counts on its own clock, is still running it.
/// </summary>
[TestFixture("sqlite")]
[TestFixture("postgresql")]
[Parallelizable(ParallelScope.None)]
public sealed class StoreLeaseClockTests(string database)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);

    /// <summary>The machine's clock, off by a fixed amount.</summary>
    private sealed class SkewedClock(TimeSpan skew) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + skew;
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task ClocksHalfALeaseApart_NoTakeoverBeforeTheHoldersFence(bool onDatabaseClock)
    {
        await using var db = TestDatabase.Create(database);
        await db.InstallAsync();
        // The holder's clock is a quarter lease behind, the other process's a quarter lease ahead: half a lease apart.
        var holder = new WorkflowStore(db.Dialect, new SkewedClock(-Lease / 4), leasesOnDatabaseClock: onDatabaseClock);
        var other = new WorkflowStore(db.CreateDialect(), new SkewedClock(Lease / 4), leasesOnDatabaseClock: onDatabaseClock);
        var created = await holder.CreateAsync(new NewWorkflow("signup", "User", "1", false, "first", null));
        var claimed = Stopwatch.StartNew();
        var claim = await holder.ClaimAsync(created.FirstExecution!.Id, "job-1", Lease);
        Assert.That(claim.IsClaimed, claim.Reason);

        // Just past half the lease: the holder's fence (at 0.6 of the lease) has not fired yet.
        var halfway = Lease * 0.55;
        while (claimed.Elapsed < halfway)
        {
            await Task.Delay(halfway - claimed.Elapsed);
        }

        var expired = await other.GetExpiredLeasesAsync(10);
        var intruder = await other.ClaimAsync(created.FirstExecution.Id, "job-2", Lease);
        var elapsed = claimed.Elapsed;

        if (!onDatabaseClock)
        {
            // The hole the database clock closes, shown on the same scenario.
            Assert.That(intruder.Outcome, Is.EqualTo(ClaimOutcome.TookOver), "with application clocks the ahead process takes over early");
            return;
        }

        Assume.That(elapsed, Is.LessThan(Lease * RunningStepFence), "the machine stalled past the holder's fence; nothing to judge");
        Assert.Multiple(() =>
        {
            Assert.That(expired, Is.Empty, "the reconciler sees a live lease");
            Assert.That(intruder.Outcome, Is.EqualTo(ClaimOutcome.LeaseHeld), intruder.Reason);
        });
    }

    private const double RunningStepFence = GenevaDrive.Server.RunningStep.FenceAfterFraction;
}
