using GenevaDrive.Store;
using Microsoft.Extensions.Logging;
using Moq;

namespace GenevaDrive.Tests.Storage;

/// <summary>The batching of new jobs' ids, with the write replaced: what is written together, in what order, and when a flush returns.</summary>
public sealed class JobIdRecorderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Test]
    public async Task IdsRecordedWhileAWriteIsInFlight_GoIntoTheNextWrite_TogetherAndInIdOrder()
    {
        var writes = new List<IReadOnlyList<(long, string)>>();
        var firstWriteEntered = new TaskCompletionSource();
        var releaseFirst = new TaskCompletionSource();
        var recorder = new JobIdRecorder(async (rows, _) =>
        {
            lock (writes)
            {
                writes.Add(rows);
            }

            if (writes.Count == 1)
            {
                firstWriteEntered.SetResult();
                await releaseFirst.Task;
            }
        }, null);

        recorder.Record(5, "a");
        await firstWriteEntered.Task.WaitAsync(Bound);
        recorder.Record(9, "b");
        recorder.Record(7, "c");
        recorder.Record(9, "b2");
        var flush = recorder.FlushAsync();
        Assert.That(flush.IsCompleted, Is.False, "the ids recorded during the first write are not written yet");
        releaseFirst.SetResult();
        await flush.WaitAsync(Bound);

        Assert.That(writes, Has.Count.EqualTo(2));
        Assert.That(writes[0], Is.EqualTo(new[] { (5L, "a") }));
        Assert.That(writes[1], Is.EqualTo(new[] { (7L, "c"), (9L, "b2") }), "one row per execution, the last id recorded, in id order");
        Assert.That(recorder.Pending, Is.Zero);
    }

    [Test]
    public async Task ALargeBacklog_IsWrittenInBatchesOfAtMostMaxBatch()
    {
        var sizes = new List<int>();
        var entered = new TaskCompletionSource();
        var gate = new TaskCompletionSource();
        var recorder = new JobIdRecorder(async (rows, _) =>
        {
            sizes.Add(rows.Count);
            entered.TrySetResult();
            await gate.Task;
        }, null);

        recorder.Record(0, "first");
        await entered.Task.WaitAsync(Bound);
        for (var i = 1; i <= JobIdRecorder.MaxBatch + 20; i++)
        {
            recorder.Record(i, $"j{i}");
        }

        var flush = recorder.FlushAsync();
        gate.SetResult();
        await flush.WaitAsync(Bound);

        Assert.That(sizes, Is.EqualTo(new[] { 1, JobIdRecorder.MaxBatch, 20 }));
    }

    [Test]
    public async Task AFailedWrite_IsLogged_AndTheFlushStillReturns_AndLaterIdsAreWritten()
    {
        var logger = new Mock<ILogger>();
        logger.Setup(l => l.IsEnabled(It.IsAny<LogLevel>())).Returns(true);
        var written = new List<long>();
        var recorder = new JobIdRecorder((rows, _) =>
        {
            if (rows.Any(r => r.ExecutionId == 1))
            {
                throw new InvalidOperationException("the database is gone");
            }

            written.AddRange(rows.Select(r => r.ExecutionId));
            return Task.CompletedTask;
        }, logger.Object);

        recorder.Record(1, "lost");
        await recorder.FlushAsync().WaitAsync(Bound);
        recorder.Record(2, "kept");
        await recorder.FlushAsync().WaitAsync(Bound);

        Assert.That(written, Is.EqualTo(new[] { 2L }));
        logger.Verify(l => l.Log(LogLevel.Warning, It.Is<EventId>(e => e.Id == 801), It.IsAny<It.IsAnyType>(),
            It.IsAny<InvalidOperationException>(), It.IsAny<Func<It.IsAnyType, Exception?, string>>()), Times.Once);
    }

    [Test]
    public async Task ALoneId_IsWrittenWithoutAFlush_AfterItsLinger()
    {
        var written = new TaskCompletionSource<IReadOnlyList<(long, string)>>();
        var recorder = new JobIdRecorder((rows, _) =>
        {
            written.TrySetResult(rows);
            return Task.CompletedTask;
        }, null);

        recorder.Record(3, "alone");

        Assert.That(await written.Task.WaitAsync(Bound), Is.EqualTo(new[] { (3L, "alone") }));
    }

    [Test]
    public async Task AFlushWithNothingRecorded_ReturnsAtOnce()
    {
        var recorder = new JobIdRecorder((_, _) => throw new AssertionException("nothing to write"), null);

        await recorder.FlushAsync().WaitAsync(Bound);

        Assert.That(recorder.Pending, Is.Zero);
    }
}
