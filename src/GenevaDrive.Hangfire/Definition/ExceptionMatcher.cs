namespace GenevaDrive.Definition;

/// <summary>Decides whether a class-level exception policy applies to an exception.</summary>
internal abstract class ExceptionMatcher
{
    public abstract bool Matches(Exception exception);

    public abstract string Describe();

    /// <summary>Matches the exception type and every type derived from it.</summary>
    public sealed class OfType(Type exceptionType) : ExceptionMatcher
    {
        public override bool Matches(Exception exception) => exceptionType.IsInstanceOfType(exception);

        public override string Describe() => exceptionType.FullName ?? exceptionType.Name;
    }

    /// <summary>
    /// Matches by type name, resolved at match time against the exception's own type hierarchy, so the
    /// named type need not be loadable (or even exist) when the workflow is defined. An unknown name never
    /// matches and never throws.
    /// </summary>
    public sealed class Named(string typeName) : ExceptionMatcher
    {
        public override bool Matches(Exception exception)
        {
            for (var type = exception.GetType(); type is not null; type = type.BaseType)
            {
                if (string.Equals(type.FullName, typeName, StringComparison.Ordinal) ||
                    string.Equals(type.AssemblyQualifiedName, typeName, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        public override string Describe() => $"\"{typeName}\"";
    }

    /// <summary>Matches when the user's predicate says so.</summary>
    public sealed class Predicate(Func<Exception, bool> predicate) : ExceptionMatcher
    {
        public override bool Matches(Exception exception) => predicate(exception);

        public override string Describe() => "predicate";
    }
}

/// <summary>A workflow-level exception policy with its matchers (none = blanket).</summary>
internal sealed class ClassExceptionPolicy
{
    public required IReadOnlyList<ExceptionMatcher> Matchers { get; init; }

    public required ExceptionPolicy Policy { get; init; }

    public required SourceLocation Source { get; init; }

    public bool IsBlanket => Matchers.Count == 0;

    public bool Matches(Exception exception) => IsBlanket || Matchers.Any(m => m.Matches(exception));

    public string Shape => $"[{string.Join(",", Matchers.Select(m => m.Describe()))}]=>{Policy}";
}

/// <summary>A class-level cancel condition.</summary>
internal sealed record CancelCondition(Func<bool> Condition, SourceLocation Source);
