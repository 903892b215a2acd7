using System.Collections.Concurrent;
using System.Data;
using System.Linq.Expressions;
using System.Reflection;
using Dapper;
using GenevaDrive.Storage;

namespace GenevaDrive.Store;

/// <summary>
/// Turns the store's values for a statement into its parameters: exactly the parameters the statement declares, in its
/// order, each typed by the dialect from its kind. A value the statement takes but the store did not pass throws, naming
/// both, so a statement and its caller cannot drift apart unnoticed.
/// </summary>
internal static class StatementBinder
{
    private static readonly ConcurrentDictionary<Type, IReadOnlyDictionary<string, Func<object, object?>>> Readers = new();

    public static BoundParameters Bind(SqlDialect dialect, SqlStatement statement, object values)
    {
        var readers = Readers.GetOrAdd(values.GetType(), ReadersOf);
        var parameters = statement.Parameters;
        var bound = new BoundParameter[parameters.Count];
        for (var i = 0; i < parameters.Count; i++)
        {
            var parameter = parameters[i];
            if (!readers.TryGetValue(parameter.Name, out var read))
            {
                throw new InvalidOperationException(
                    $"Statement {statement.Name} takes @{parameter.Name}, and the store passed no {parameter.Name} (it passed a {values.GetType().Name}).");
            }

            var (type, size) = TypeOf(dialect, parameter);
            bound[i] = new BoundParameter(parameter.Name, parameter.Kind, read(values), type ?? KindType(parameter.Kind), size);
        }

        return new BoundParameters(bound);
    }

    /// <summary>The database type the dialect gives the parameter, and the size it is sent with (unbounded text: -1, max).</summary>
    public static (DbType? Type, int? Size) TypeOf(SqlDialect dialect, SqlParameterShape parameter) =>
        dialect.TypeOf(parameter) is { } type
            ? (type, parameter.MaxLength ?? (parameter.Kind is SqlValueKind.Text or SqlValueKind.Code ? -1 : null))
            : (null, null);

    /// <summary>
    /// The type a kind is sent as when the dialect leaves it to the provider: the type Dapper gives the kind's CLR type, so a
    /// null is typed too (PostgreSQL cannot type a bare null in "@Cursor IS NOT NULL").
    /// </summary>
    private static DbType? KindType(SqlValueKind kind) => kind switch
    {
        SqlValueKind.Id => DbType.Int64,
        SqlValueKind.Number => DbType.Int32,
        SqlValueKind.Flag => DbType.Boolean,
        SqlValueKind.Time => DbType.DateTime,
        SqlValueKind.Code or SqlValueKind.Text => DbType.String,
        _ => null,
    };

    private static IReadOnlyDictionary<string, Func<object, object?>> ReadersOf(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
            .ToDictionary(p => p.Name, Reader, StringComparer.Ordinal);

    /// <summary>A compiled getter (the store binds about 30 statements per step; reflection's GetValue would cost more).</summary>
    private static Func<object, object?> Reader(PropertyInfo property)
    {
        var instance = Expression.Parameter(typeof(object));
        var body = Expression.Convert(Expression.Property(Expression.Convert(instance, property.DeclaringType!), property), typeof(object));
        return Expression.Lambda<Func<object, object?>>(body, instance).Compile();
    }
}

/// <summary>One bound parameter: its value and how it is sent.</summary>
internal readonly record struct BoundParameter(string Name, SqlValueKind Kind, object? Value, DbType? Type, int? Size);

/// <summary>A statement's parameters, added to the command as declared (a list of ids expanded or sent as an array by Dapper).</summary>
internal sealed class BoundParameters(BoundParameter[] parameters) : SqlMapper.IDynamicParameters
{
    /// <summary>The names, in the statement's order.</summary>
    public IEnumerable<string> ParameterNames => parameters.Select(p => p.Name);

    /// <summary>The bound parameters, for tests.</summary>
    public IReadOnlyList<BoundParameter> Parameters => parameters;

    public void AddParameters(IDbCommand command, SqlMapper.Identity identity)
    {
        foreach (var parameter in parameters)
        {
            if (parameter.Kind == SqlValueKind.IdList)
            {
                // Dapper's own list handling (what its DynamicParameters calls): one array parameter where the provider takes
                // arrays (PostgreSQL's "= ANY(@Ids)"), else "IN @Ids" rewritten to one parameter per id.
#pragma warning disable CS0618
                SqlMapper.PackListParameters(command, parameter.Name, parameter.Value);
#pragma warning restore CS0618
                continue;
            }

            var added = command.CreateParameter();
            added.ParameterName = parameter.Name;
            added.Value = parameter.Value ?? DBNull.Value;
            if (parameter.Type is { } type)
            {
                added.DbType = type;
            }

            if (parameter.Size is { } size)
            {
                added.Size = size;
            }

            command.Parameters.Add(added);
        }
    }
}
