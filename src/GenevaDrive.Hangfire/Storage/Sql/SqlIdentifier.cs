using System.Text.RegularExpressions;
using GenevaDrive.Storage;

namespace GenevaDrive.Storage.Sql;

/// <summary>
/// Validates schema names and table prefixes once, at configuration time. Only validated identifiers
/// are ever placed into SQL text; everything else travels as parameters.
/// </summary>
public static partial class SqlIdentifier
{
    /// <summary>Returns <paramref name="value"/> when it is a plain identifier, else throws naming the rule and the fix.</summary>
    public static string ValidateSchemaName(string? value, string optionName)
    {
        if (value is null || !SchemaPattern().IsMatch(value))
        {
            throw new ArgumentException(
                $"{optionName} must start with a letter or underscore and contain only letters, digits and underscores (at most 63 characters). Given: '{value}'. " +
                "Quotes, dots, spaces and semicolons are refused because the name is placed into SQL text.", optionName);
        }

        return value;
    }

    /// <summary>Returns <paramref name="value"/> when it is a valid table prefix (may be empty), else throws.</summary>
    public static string ValidateTablePrefix(string? value, string optionName)
    {
        if (value is null || !PrefixPattern().IsMatch(value))
        {
            throw new ArgumentException(
                $"{optionName} may contain only letters, digits and underscores (at most 40 characters; empty for none). Given: '{value}'. " +
                "Quotes, dots, spaces and semicolons are refused because the prefix is placed into SQL text.", optionName);
        }

        return value;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaPattern();

    [GeneratedRegex("^[A-Za-z0-9_]{0,40}$", RegexOptions.CultureInvariant)]
    private static partial Regex PrefixPattern();
}
