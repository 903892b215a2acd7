using System.Collections;

namespace GenevaDrive.Definition;

/// <summary>The steps of a workflow in run order, with lookups by name and neighbour navigation.</summary>
internal sealed class StepCollection : IReadOnlyList<StepDefinition>
{
    private readonly List<StepDefinition> _ordered;
    private Dictionary<string, int>? _indexByName;

    public StepCollection(IEnumerable<StepDefinition> ordered)
    {
        _ordered = ordered.ToList();
    }

    // Built on first use; a run's collection borrows the validated definition's (same names, same order).
    private Dictionary<string, int> Index => _indexByName ??= BuildIndex(_ordered);

    private static Dictionary<string, int> BuildIndex(List<StepDefinition> ordered)
    {
        var index = new Dictionary<string, int>(ordered.Count, StringComparer.Ordinal);
        for (var i = 0; i < ordered.Count; i++)
        {
            index.Add(ordered[i].Name, i);
        }

        return index;
    }

    /// <summary>Uses the name index of <paramref name="sameNames"/>, whose steps have the same names in the same order.</summary>
    public void ShareIndexOf(StepCollection sameNames) => _indexByName = sameNames.Index;

    public int Count => _ordered.Count;

    public StepDefinition this[int index] => _ordered[index];

    public StepDefinition? First => _ordered.Count > 0 ? _ordered[0] : null;

    public StepDefinition? Last => _ordered.Count > 0 ? _ordered[^1] : null;

    public IEnumerable<string> Names => _ordered.Select(s => s.Name);

    public bool Contains(string name) => Index.ContainsKey(name);

    public StepDefinition? Find(string name) => Index.TryGetValue(name, out var i) ? _ordered[i] : null;

    public int IndexOf(string name) => Index.TryGetValue(name, out var i) ? i : -1;

    /// <summary>The step after <paramref name="name"/>; the first step for <see langword="null"/>;
    /// <see langword="null"/> after the last step or for an unknown name.</summary>
    public StepDefinition? NextAfter(string? name)
    {
        if (name is null)
        {
            return First;
        }

        var index = IndexOf(name);
        return index >= 0 && index + 1 < _ordered.Count ? _ordered[index + 1] : null;
    }

    /// <summary>The step before <paramref name="name"/>; <see langword="null"/> for the first step, an unknown
    /// name or <see langword="null"/>.</summary>
    public StepDefinition? PreviousBefore(string? name)
    {
        if (name is null)
        {
            return null;
        }

        var index = IndexOf(name);
        return index > 0 ? _ordered[index - 1] : null;
    }

    public IEnumerator<StepDefinition> GetEnumerator() => _ordered.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
