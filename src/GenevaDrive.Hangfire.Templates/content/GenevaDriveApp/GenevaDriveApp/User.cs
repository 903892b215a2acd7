using System.Collections.Concurrent;

namespace GenevaDriveApp;

/// <summary>The hero of the welcome workflow. Keep heroes small: GenevaDrive stores only the id and reloads the rest before every step.</summary>
public sealed record User(string Id)
{
    /// <summary>Whether the user has finished setting up (the last step is skipped then).</summary>
    public bool HasFinishedSetup { get; set; }
}

/// <summary>Where users live; in your application this is your database.</summary>
public sealed class UserDirectory
{
    private readonly ConcurrentDictionary<string, User> _users = new(StringComparer.Ordinal);

    public User Add(string id) => _users.GetOrAdd(id, key => new User(key));

    public User? Find(string id) => _users.TryGetValue(id, out var user) ? user : null;
}
