using System.Text.RegularExpressions;
using GenevaDrive.Storage.Sql;

namespace GenevaDrive.Storage;

/// <summary>
/// What a statement parameter carries. A dialect gives each kind its database type (<see cref="SqlDialect.TypeOf"/>);
/// the kind, not the parameter's name, decides it.
/// </summary>
public enum SqlValueKind
{
    /// <summary>A row id (<see cref="long"/>).</summary>
    Id,

    /// <summary>A small number: a limit, an offset, an attempt or checkpoint count (<see cref="int"/>).</summary>
    Number,

    /// <summary>A flag (<see cref="bool"/>).</summary>
    Flag,

    /// <summary>A UTC time, to the millisecond (<see cref="DateTime"/> of kind <see cref="DateTimeKind.Utc"/>).</summary>
    Time,

    /// <summary>A short ASCII code compared through an index: a state, an outcome, a lease token, an operation id (<see cref="string"/>).</summary>
    Code,

    /// <summary>Unicode text: a type or step name, a hero id, a reason, a payload (<see cref="string"/>).</summary>
    Text,

    /// <summary>A list of row ids (<see cref="long"/>[]), written where <see cref="Sql.SqlFlavor.InIds"/> says.</summary>
    IdList,
}

/// <summary>One parameter a statement takes: its name (written <c>@Name</c> in the text), its kind and, for text, its column's size.</summary>
/// <param name="Name">The name, without the <c>@</c>.</param>
/// <param name="Kind">What it carries.</param>
/// <param name="MaxLength">The column's size in characters for <see cref="SqlValueKind.Code"/> and <see cref="SqlValueKind.Text"/>; null for unbounded text and other kinds.</param>
public sealed record SqlParameterShape(string Name, SqlValueKind Kind, int? MaxLength = null);

/// <summary>
/// One statement of the storage contract: its name, its SQL text, and the parameters it takes, each with its kind. The core
/// declares every statement and its parameters (<see cref="StorageStatements"/>); a dialect writes the text, and may rewrite
/// it with <see cref="WithText"/> as long as it takes exactly the same parameters.
/// </summary>
public sealed partial class SqlStatement
{
    internal SqlStatement(string name, string text, IReadOnlyList<SqlParameterShape> parameters)
    {
        Name = name;
        Text = text;
        Parameters = parameters;
    }

    /// <summary>The statement's name in <see cref="StorageStatements"/>, e.g. <c>LockWorkflow</c>.</summary>
    public string Name { get; }

    /// <summary>The SQL text, in the database's dialect.</summary>
    public string Text { get; }

    /// <summary>The parameters the text takes, in the order they first appear.</summary>
    public IReadOnlyList<SqlParameterShape> Parameters { get; }

    /// <summary>
    /// The same statement with other text (a dialect's own locking, limits or durability), which must take exactly the same
    /// parameters: a parameter missing from the text, or one the statement does not declare, throws.
    /// </summary>
    /// <param name="text">The new text.</param>
    public SqlStatement WithText(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var declared = Parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var used = NamesIn(text).ToHashSet(StringComparer.Ordinal);
        if (!declared.SetEquals(used))
        {
            var missing = declared.Except(used).Select(n => "@" + n);
            var extra = used.Except(declared).Select(n => "@" + n);
            throw new ArgumentException(
                $"Statement {Name} takes exactly {Describe(declared)}, and the new text takes {Describe(used)} " +
                $"(missing: {Describe(missing)}; not declared: {Describe(extra)}). Write the text with the statement's parameters, " +
                "as StorageStatements documents them.", nameof(text));
        }

        return new SqlStatement(Name, text, Parameters);
    }

    /// <summary>The text.</summary>
    public override string ToString() => Text;

    /// <summary>This statement followed by <paramref name="next"/> in one batch: the parameters of both, each once.</summary>
    internal SqlStatement Then(SqlStatement next) =>
        new(Name + "+" + next.Name, Text + " " + next.Text,
            Parameters.Concat(next.Parameters).DistinctBy(p => p.Name, StringComparer.Ordinal).ToArray());

    /// <summary>The parameter names a text uses (<c>@Name</c>, not <c>@@NAME</c>), each once, in order.</summary>
    internal static IEnumerable<string> NamesIn(string text) =>
        ParameterReference().Matches(text).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal);

    private static string Describe(IEnumerable<string> names)
    {
        var list = names.Select(n => n.StartsWith('@') ? n : "@" + n).ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }

    [GeneratedRegex(@"(?<![@\w])@([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterReference();
}

/// <summary>
/// The one table of statement parameters: each name has one kind (and size) in every statement, from the columns it is
/// compared with or written to. A statement's parameters are the names its text uses, looked up here.
/// </summary>
internal static class SqlParameterCatalog
{
    private static readonly Dictionary<string, SqlParameterShape> Shapes = Build();

    private static Dictionary<string, SqlParameterShape> Build()
    {
        var shapes = new Dictionary<string, SqlParameterShape>(StringComparer.Ordinal);
        void Add(SqlValueKind kind, int? size, params string[] names)
        {
            foreach (var name in names)
            {
                shapes.Add(name, new SqlParameterShape(name, kind, size));
            }
        }

        Add(SqlValueKind.Id, null, "Id", "WorkflowId", "ExecutionId", "AfterId", "EndedExecutionId", "EventId", "ParentWorkflowId", "ChildId");
        Add(SqlValueKind.Number, null, "Attempt", "Checkpoints", "Limit", "Offset", "LeaseMilliseconds");
        Add(SqlValueKind.Flag, null, "AllowMultiple");
        Add(SqlValueKind.Time, null, "CreatedAt", "UpdatedAt", "StartedAt", "TransitionedAt", "ScheduledFor", "DispatchedAt", "HeartbeatAt",
            "LeaseExpiresAt", "WaitUntil", "CompletedAt", "FailedAt", "CanceledAt", "SkippedAt", "FinishedAt", "Now", "ConsumedAt", "Cutoff",
            "AfterScheduledFor");
        Add(SqlValueKind.Code, 20, "State", "Outcome", "ExecutionState", "WorkflowState", "ExecutionOutcome", "Command");
        Add(SqlValueKind.Code, 64, "LeaseToken", "ExecutionLeaseToken");
        Add(SqlValueKind.Code, 100, "TraceParent");
        Add(SqlValueKind.Code, 40, "OperationId");
        Add(SqlValueKind.Text, 200, "Type", "HeroType", "HeroId", "CurrentStepName", "NextStepName", "StepName", "ParentStepName", "Name", "EventKey",
            "WaitingFor", "OldName", "NewName");
        Add(SqlValueKind.Text, 400, "ErrorClassName");
        Add(SqlValueKind.Text, 100, "JobId", "PausedByJobId");
        Add(SqlValueKind.Text, 1000, "StateReason");
        Add(SqlValueKind.Text, null, "ErrorMessage", "ErrorBacktrace", "Metadata", "ExecutionMetadata", "Cursor", "Payload", "Result");
        Add(SqlValueKind.IdList, null, "Ids");
        return shapes;
    }

    /// <summary>A statement whose parameters are those its text uses; a name not in the table throws (a typo, or a new column without its kind).</summary>
    public static SqlStatement Statement(string name, string text) =>
        new(name, text, SqlStatement.NamesIn(text).Select(n => Shapes.TryGetValue(n, out var shape)
            ? shape
            : throw new InvalidOperationException($"Statement {name} uses @{n}, which has no kind in the parameter catalog: add it there.")).ToArray());

    /// <summary>A statement each dialect writes itself: the parameters are declared; the text comes with <see cref="SqlStatement.WithText"/>.</summary>
    public static SqlStatement Declared(string name, params string[] parameters) =>
        new(name, string.Empty, parameters.Select(n => Shapes[n]).ToArray());
}
