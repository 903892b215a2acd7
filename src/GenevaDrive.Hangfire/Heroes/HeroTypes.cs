using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Heroes;

/// <summary>Reads heroes' ids and loads heroes through the registered <see cref="IHeroLoader{THero}"/>s.</summary>
internal static class HeroTypes
{
    public const int MaxIdLength = 200;

    /// <summary>The stored hero type name: its <see cref="HeroNameAttribute"/>, or else its full name.</summary>
    /// <exception cref="ArgumentException">The attribute's name breaks a rule (the message names it).</exception>
    public static string NameOf(Type heroType) => Names.GetOrAdd(heroType, static type =>
    {
        if (type.GetCustomAttributes(typeof(HeroNameAttribute), inherit: false) is not [HeroNameAttribute attribute])
        {
            return type.FullName ?? type.Name;
        }

        var name = attribute.Name;
        if (string.IsNullOrWhiteSpace(name) || name.Trim() != name || name.Length > MaxIdLength || name.Any(char.IsControl))
        {
            throw new ArgumentException(
                $"[HeroName(\"{EchoedValue.Of(name)}\")] on {type.FullName} is not a usable name: give 1 to {MaxIdLength} characters without control characters " +
                "or surrounding white space, e.g. [HeroName(\"user\")].", nameof(heroType));
        }

        return name;
    });

    private static readonly ConcurrentDictionary<Type, string> Names = new();

    public static string GetId<THero>(IServiceProvider services, THero hero)
        where THero : class
    {
        var loader = Loader<THero>(services);
        var id = loader.GetId(hero);
        ValidateId(typeof(THero), id);
        return id;
    }

    /// <summary>
    /// Hero ids are stored as text and shown in the dashboard: 1 to <see cref="MaxIdLength"/> characters, not all white
    /// space, none of them control characters (a NUL cannot even be stored by PostgreSQL).
    /// </summary>
    /// <exception cref="ArgumentException">The id breaks one of these rules.</exception>
    public static void ValidateId(Type heroType, string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxIdLength)
        {
            throw new ArgumentException(
                $"Hero ids must be 1 to {MaxIdLength} characters; the hero loader for {heroType.Name} returned '{EchoedValue.Of(id)}' " +
                $"({id?.Length ?? 0} characters). Return a shorter stable key, such as the primary key.", "hero");
        }

        if (string.IsNullOrWhiteSpace(id))
        {
            throw new ArgumentException(
                $"Hero ids must not be blank; the hero loader for {heroType.Name} returned {id.Length} white-space character(s). " +
                "Return the hero's stable key, such as the primary key (an unsaved record has none yet: save it first).", "hero");
        }

        var control = -1;
        for (var i = 0; i < id.Length && control < 0; i++)
        {
            control = char.IsControl(id[i]) ? i : -1;
        }

        if (control >= 0)
        {
            throw new ArgumentException(
                $"Hero ids must not contain control characters; the hero loader for {heroType.Name} returned '{EchoedValue.Of(id)}' " +
                $"with U+{(int)id[control]:X4} at position {control}. Return a printable stable key, such as the primary key.", "hero");
        }
    }

    /// <summary>The id of <paramref name="hero"/> through the loader of <paramref name="heroType"/>.</summary>
    public static string GetId(IServiceProvider services, Type heroType, object hero) => Access(heroType).GetId(services, hero);

    /// <summary>Loads a hero of <paramref name="heroType"/> through its loader (resolved from <paramref name="services"/>).</summary>
    public static Task<object?> LoadAsync(IServiceProvider services, Type heroType, string id, CancellationToken ct) =>
        Access(heroType).LoadAsync(services, id, ct);

    // Every step run loads its hero: the typed adapter is made once per hero type, not reflected per call.
    private static readonly ConcurrentDictionary<Type, HeroAccess> Accessors = new();

    private static HeroAccess Access(Type heroType) =>
        Accessors.GetOrAdd(heroType, static type => (HeroAccess)Activator.CreateInstance(typeof(HeroAccess<>).MakeGenericType(type))!);

    private abstract class HeroAccess
    {
        public abstract string GetId(IServiceProvider services, object hero);

        public abstract Task<object?> LoadAsync(IServiceProvider services, string id, CancellationToken ct);
    }

    private sealed class HeroAccess<THero> : HeroAccess
        where THero : class
    {
        public override string GetId(IServiceProvider services, object hero) => HeroTypes.GetId(services, (THero)hero);

        public override async Task<object?> LoadAsync(IServiceProvider services, string id, CancellationToken ct) =>
            await Loader<THero>(services).LoadAsync(id, ct).ConfigureAwait(false);
    }

    private static IHeroLoader<THero> Loader<THero>(IServiceProvider services)
        where THero : class =>
        services.GetService<IHeroLoader<THero>>() ?? throw new InvalidOperationException(
            $"No hero loader is registered for {typeof(THero).FullName}. Register one with options.AddHero<{typeof(THero).Name}>(hero => hero.Id.ToString(), (services, id, ct) => …) " +
            $"or services.AddScoped<IHeroLoader<{typeof(THero).Name}>, YourLoader>().");
}
