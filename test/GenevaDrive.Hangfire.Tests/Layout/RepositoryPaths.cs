namespace GenevaDrive.Tests.Layout;

/// <summary>The repository's root folder (the one holding GenevaDrive.Hangfire.sln), found above the test assembly.</summary>
internal static class RepositoryPaths
{
    public static string Root()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GenevaDrive.Hangfire.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No GenevaDrive.Hangfire.sln above {TestContext.CurrentContext.TestDirectory}.");
    }
}
