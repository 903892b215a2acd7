namespace GenevaDrive;

/// <summary>
/// Gives a workflow class a stable name, stored in every row of that workflow. Without it the name is the
/// class's full name, so renaming or moving the class would strand existing rows; with it, the class can
/// be renamed freely.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class WorkflowNameAttribute : Attribute
{
    /// <summary>Sets the stable name.</summary>
    /// <param name="name">The name: 1 to 200 characters, no leading or trailing white space.</param>
    public WorkflowNameAttribute(string name)
    {
        Name = name;
    }

    /// <summary>The stable name.</summary>
    public string Name { get; }
}
