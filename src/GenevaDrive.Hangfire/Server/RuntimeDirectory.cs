using System.Runtime.CompilerServices;
using Hangfire;
using GenevaDrive.Registration;

namespace GenevaDrive.Server;

/// <summary>
/// Which GenevaDrive runtime serves which Hangfire storage. Hangfire's dashboard routes are process-wide, so
/// a page finds the runtime that belongs to the dashboard being served through that dashboard's storage.
/// Weak keys: a disposed host's storage and runtime are collected.
/// </summary>
internal static class RuntimeDirectory
{
    private static readonly ConditionalWeakTable<JobStorage, GenevaDriveRuntime> ByStorage = new();

    public static void Register(JobStorage storage, GenevaDriveRuntime runtime) => ByStorage.AddOrUpdate(storage, runtime);

    public static GenevaDriveRuntime? Find(JobStorage? storage) =>
        storage is not null && ByStorage.TryGetValue(storage, out var runtime) ? runtime : null;
}
