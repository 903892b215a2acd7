namespace GenevaDrive.Sample.Demo;

/// <summary>
/// The demo's hero. A real application loads heroes from its database; the demo derives everything from
/// the id, so workflows survive restarts without a customer table: "-pro" customers have upgraded,
/// "-closed" customers closed their account, "-wobbly" cards fail once and "-flaky" cards fail four times.
/// </summary>
internal sealed record Customer(string Id)
{
    public bool IsPro => Id.Contains("-pro", StringComparison.Ordinal);

    public bool IsClosed => Id.Contains("-closed", StringComparison.Ordinal);

    public int CardFailures => Id.Contains("-flaky", StringComparison.Ordinal) ? 4 : Id.Contains("-wobbly", StringComparison.Ordinal) ? 1 : 0;

    public string Name => Id.Split('-')[0];
}
