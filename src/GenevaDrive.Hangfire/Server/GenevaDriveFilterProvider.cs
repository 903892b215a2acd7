using Hangfire.Common;

namespace GenevaDrive.Server;

/// <summary>
/// The job filter provider of one DI container: the providers it wraps (Hangfire's global ones by default)
/// plus the GenevaDrive filter of this container's runtime. Hangfire.NetCore's clients and servers take their
/// filter provider from the container, so every host gets its own GenevaDrive filter and nothing is added to
/// Hangfire's process-wide filters.
/// </summary>
internal sealed class GenevaDriveFilterProvider(IJobFilterProvider inner, WorkflowStepFilter filter) : IJobFilterProvider
{
    private readonly JobFilter[] _own = [new JobFilter(filter, JobFilterScope.Global, filter.Order)];

    public IEnumerable<JobFilter> GetFilters(Job job) => inner.GetFilters(job).Concat(_own);
}
