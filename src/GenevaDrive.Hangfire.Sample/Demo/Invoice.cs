using System.Globalization;

namespace GenevaDrive.Sample.Demo;

/// <summary>
/// The hero of an invoice workflow: one line of an account's monthly bill, "{account}-inv{NN}". Like <see cref="Customer"/>,
/// everything is derived from the id (the amount from the line's number), so the demo needs no invoice table.
/// </summary>
internal sealed record Invoice(string Id)
{
    private const string Marker = "-inv";

    /// <summary>The invoices of one monthly bill.</summary>
    public const int PerMonth = 25;

    /// <summary>The account billed: the part before "-inv".</summary>
    public string Account => Id[..Id.LastIndexOf(Marker, StringComparison.Ordinal)];

    public int Number => int.Parse(Id[(Id.LastIndexOf(Marker, StringComparison.Ordinal) + Marker.Length)..], CultureInfo.InvariantCulture);

    /// <summary>10 to 70 EUR, from the line's number.</summary>
    public decimal Amount => 10m + Number * 7 % 13 * 5m;

    /// <summary>The lines of <paramref name="account"/>'s monthly bill, in a stable order (the parent's step counts them to resume).</summary>
    public static IEnumerable<Invoice> LinesOf(Customer account) =>
        Enumerable.Range(1, PerMonth).Select(n => new Invoice($"{account.Id}{Marker}{n:D2}"));
}
