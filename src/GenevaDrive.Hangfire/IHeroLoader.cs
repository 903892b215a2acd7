namespace GenevaDrive;

/// <summary>
/// Identifies and loads the heroes of one type. A workflow stores its hero as (type, id) strings; before
/// every step the loader reloads the hero from the application's data (e.g. with EF Core or Dapper).
/// Register one per hero type with <c>GenevaDriveOptions.AddHero</c>; it is resolved from a DI scope
/// per step run, so it may depend on scoped services such as a DbContext.
/// </summary>
/// <typeparam name="THero">The hero type.</typeparam>
public interface IHeroLoader<THero>
    where THero : class
{
    /// <summary>The hero's stable id, stored with the workflow (at most 200 characters).</summary>
    /// <param name="hero">The hero.</param>
    /// <returns>The id.</returns>
    string GetId(THero hero);

    /// <summary>Loads the hero, or returns <see langword="null"/> when it no longer exists.</summary>
    /// <param name="id">The id returned by <see cref="GetId"/>.</param>
    /// <param name="cancellationToken">Fires when the step job is canceled.</param>
    /// <returns>The hero, or <see langword="null"/>.</returns>
    Task<THero?> LoadAsync(string id, CancellationToken cancellationToken);
}

/// <summary>A hero loader built from two functions, for <c>GenevaDriveOptions.AddHero</c>.</summary>
internal sealed class DelegateHeroLoader<THero>(
    Func<THero, string> getId,
    Func<IServiceProvider, string, CancellationToken, Task<THero?>> load,
    IServiceProvider services) : IHeroLoader<THero>
    where THero : class
{
    public string GetId(THero hero) => getId(hero);

    public Task<THero?> LoadAsync(string id, CancellationToken cancellationToken) => load(services, id, cancellationToken);
}
