namespace GenevaDrive;

/// <summary>
/// Gives a hero class a stable name, stored with every workflow about such a hero. Without it the name is the
/// class's full name, so renaming or moving the class would strand the workflows already stored (they could no
/// longer be found by hero, and a second ongoing workflow could start). Adding it to a class whose workflows
/// are stored under its full name: run <see cref="IWorkflowClient.MigrateHeroTypeNameAsync{THero}(string, CancellationToken)"/>
/// once with the old name.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class HeroNameAttribute : Attribute
{
    /// <summary>Sets the stable name.</summary>
    /// <param name="name">The name: 1 to 200 characters, no leading or trailing white space, no control characters.</param>
    public HeroNameAttribute(string name)
    {
        Name = name;
    }

    /// <summary>The stable name.</summary>
    public string Name { get; }
}
