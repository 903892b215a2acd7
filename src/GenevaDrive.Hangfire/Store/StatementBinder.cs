using System.Collections.Concurrent;
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

    public static DynamicParameters Bind(SqlDialect dialect, SqlStatement statement, object values)
    {
        var readers = Readers.GetOrAdd(values.GetType(), ReadersOf);
        var bound = new DynamicParameters();
        foreach (var parameter in statement.Parameters)
        {
            if (!readers.TryGetValue(parameter.Name, out var read))
            {
                throw new InvalidOperationException(
                    $"Statement {statement.Name} takes @{parameter.Name}, and the store passed no {parameter.Name} (it passed a {values.GetType().Name}).");
            }

            var value = read(values);
            var (type, size) = TypeOf(dialect, parameter);
            // A null carries no type of its own: send it as its kind's type, or some databases (PostgreSQL) cannot tell
            // what "@Cursor IS NOT NULL" compares.
            bound.Add(parameter.Name, value, type ?? (value is null ? NullType(parameter.Kind) : null), size: size);
        }

        return bound;
    }

    /// <summary>The database type the dialect gives the parameter, and the size it is sent with (unbounded text: -1, max).</summary>
    public static (System.Data.DbType? Type, int? Size) TypeOf(SqlDialect dialect, SqlParameterShape parameter) =>
        dialect.TypeOf(parameter) is { } type
            ? (type, parameter.MaxLength ?? (parameter.Kind is SqlValueKind.Text or SqlValueKind.Code ? -1 : null))
            : (null, null);

    private static System.Data.DbType? NullType(SqlValueKind kind) => kind switch
    {
        SqlValueKind.Id => System.Data.DbType.Int64,
        SqlValueKind.Number => System.Data.DbType.Int32,
        SqlValueKind.Flag => System.Data.DbType.Boolean,
        SqlValueKind.Time => System.Data.DbType.DateTime,
        SqlValueKind.Code or SqlValueKind.Text => System.Data.DbType.String,
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
