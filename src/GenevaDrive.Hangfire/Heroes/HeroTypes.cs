using Microsoft.Extensions.DependencyInjection;

namespace GenevaDrive.Heroes;

/// <summary>Reads heroes' ids and loads heroes through the registered <see cref="IHeroLoader{THero}"/>s.</summary>
internal static class HeroTypes
{
    public const int MaxIdLength = 200;

    /// <summary>The stored hero type name.</summary>
    public static string NameOf(Type heroType) => heroType.FullName ?? heroType.Name;

    public static string GetId<THero>(IServiceProvider services, THero hero)
        where THero : class
    {
        var loader = Loader<THero>(services);
        var id = loader.GetId(hero);
        if (string.IsNullOrEmpty(id) || id.Length > MaxIdLength)
        {
            throw new InvalidOperationException(
                $"The hero loader for {typeof(THero).Name} returned the id '{id}'; hero ids must be 1 to {MaxIdLength} characters.");
        }

        return id;
    }

    /// <summary>The id of <paramref name="hero"/> through the loader of <paramref name="heroType"/>.</summary>
    public static string GetId(IServiceProvider services, Type heroType, object hero)
    {
        var method = typeof(HeroTypes).GetMethod(nameof(GetId), 1, [typeof(IServiceProvider), Type.MakeGenericMethodParameter(0)])!
            .MakeGenericMethod(heroType);
        try
        {
            return (string)method.Invoke(null, [services, hero])!;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>Loads a hero of <paramref name="heroType"/> through its loader (resolved from <paramref name="services"/>).</summary>
    public static async Task<object?> LoadAsync(IServiceProvider services, Type heroType, string id, CancellationToken ct)
    {
        var method = typeof(HeroTypes).GetMethod(nameof(LoadTypedAsync), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(heroType);
        Task<object?> task;
        try
        {
            task = (Task<object?>)method.Invoke(null, [services, id, ct])!;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }

        return await task.ConfigureAwait(false);
    }

    private static async Task<object?> LoadTypedAsync<THero>(IServiceProvider services, string id, CancellationToken ct)
        where THero : class =>
        await Loader<THero>(services).LoadAsync(id, ct).ConfigureAwait(false);

    private static IHeroLoader<THero> Loader<THero>(IServiceProvider services)
        where THero : class =>
        services.GetService<IHeroLoader<THero>>() ?? throw new InvalidOperationException(
            $"No hero loader is registered for {typeof(THero).FullName}. Register one with options.AddHero<{typeof(THero).Name}>(hero => hero.Id.ToString(), (services, id, ct) => …) " +
            $"or services.AddScoped<IHeroLoader<{typeof(THero).Name}>, YourLoader>().");
}
