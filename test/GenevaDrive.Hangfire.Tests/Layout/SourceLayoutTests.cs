using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace GenevaDrive.Tests.Layout;

/// <summary>
/// The shape of the source tree, checked so it stays as the maintainer docs describe it: each namespace is the project's
/// root namespace plus the folder path (the public API of the root namespace lives at the project's top, as in Hangfire.Core),
/// and no source file grows past what a reader takes in at one sitting.
/// </summary>
public sealed partial class SourceLayoutTests
{
    /// <summary>Files that are tables rather than logic, allowed past the size limit.</summary>
    private static readonly string[] Declarative = [];

    private const int MaxLines = 420;

    [Test]
    public void EveryNamespaceIsTheRootNamespacePlusTheFolder()
    {
        var wrong = new List<string>();
        foreach (var (project, rootNamespace, files) in Projects())
        {
            foreach (var file in files)
            {
                var declared = NamespaceDeclaration().Match(File.ReadAllText(file));
                if (!declared.Success)
                {
                    // Only a program's top-level statements live outside a namespace.
                    Assert.That(Path.GetFileName(file), Is.EqualTo("Program.cs"), $"{file} declares no file-scoped namespace");
                    continue;
                }

                var folder = Path.GetRelativePath(project, Path.GetDirectoryName(file)!);
                var expected = folder == "." ? rootNamespace : rootNamespace + "." + folder.Replace(Path.DirectorySeparatorChar, '.');
                var actual = declared.Groups[1].Value;
                if (actual != expected && !actual.StartsWith("System.", StringComparison.Ordinal))
                {
                    wrong.Add($"{Path.GetRelativePath(RepositoryRoot(), file)}: namespace {actual}, folder says {expected}");
                }
            }
        }

        Assert.That(wrong, Is.Empty, "Move the file to the folder of its namespace (or the namespace to its folder's).");
    }

    [Test]
    public void NoSourceFileIsLongerThanAReaderTakesInAtOneSitting()
    {
        var tooLong = Projects().SelectMany(p => p.Files)
            .Where(f => !Declarative.Contains(Path.GetFileName(f)))
            .Select(f => (File: Path.GetRelativePath(RepositoryRoot(), f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > MaxLines)
            .Select(f => $"{f.File}: {f.Lines} lines")
            .ToList();

        Assert.That(tooLong, Is.Empty, $"Split these by concern (at most {MaxLines} lines each).");
    }

    private static IEnumerable<(string Project, string RootNamespace, List<string> Files)> Projects()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        // A template's content is an application of its own (its namespaces are the user's), not code of this repository.
        static bool IsTemplateContent(string path) => path.Split(Path.DirectorySeparatorChar).Contains("content");
        foreach (var csproj in Directory.EnumerateFiles(src, "*.csproj", SearchOption.AllDirectories).Where(p => !IsTemplateContent(p)))
        {
            var project = Path.GetDirectoryName(csproj)!;
            var rootNamespace = XDocument.Load(csproj).Descendants("RootNamespace").Single().Value;
            var files = Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories)
                .Where(f => !Path.GetRelativePath(project, f).Split(Path.DirectorySeparatorChar).Any(part => part is "obj" or "bin" or "content"))
                .ToList();
            yield return (project, rootNamespace, files);
        }
    }

    private static string RepositoryRoot() => GenevaDrive.Tests.Layout.RepositoryPaths.Root();

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();
}
