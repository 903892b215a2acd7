using System.Reflection;
using Microsoft.Extensions.Logging;

namespace GenevaDrive.Tests.Registration;

/// <summary>Every log message is source-generated with a stable, unique event id, and docs/internals/logging-event-ids.md lists them all.</summary>
public sealed class LoggingTests
{
    private static List<(string Class, string Method, int Id, LogLevel Level)> Messages() =>
        typeof(GenevaDriveOptions).Assembly.GetTypes()
            .Where(t => t.Namespace == "GenevaDrive.Logging")
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Select(m => (t.Name, m.Name, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
                .Where(x => x.Attribute is not null)
                .Select(x => (x.Item1, x.Item2, x.Attribute!.EventId, x.Attribute.Level)))
            .ToList();

    [Test]
    public void EventIds_AreUnique_AndGroupedByComponent()
    {
        var messages = Messages();

        Assert.Multiple(() =>
        {
            Assert.That(messages, Has.Count.GreaterThan(20));
            Assert.That(messages.Select(m => m.Id), Is.Unique);
            foreach (var group in messages.GroupBy(m => m.Class))
            {
                Assert.That(group.Select(m => m.Id / 100).Distinct().Count(), Is.EqualTo(1), $"{group.Key} keeps to one hundred-block of ids");
            }
        });
    }

    [Test]
    public void EventIdTable_ListsEveryEventId()
    {
        var table = File.ReadAllText(Path.Combine(FindRoot(), "docs", "internals", "logging-event-ids.md"));

        foreach (var (cls, method, id, _) in Messages())
        {
            Assert.That(table, Does.Contain($"| {id} |"), $"docs/internals/logging-event-ids.md lists event {id} ({cls}.{method})");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GenevaDrive.Hangfire.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("The repository root was not found.");
    }
}
