namespace GenevaDrive;

/// <summary>Starts written so that the compiler checks the hero's type against the workflow's.</summary>
public static class WorkflowClientExtensions
{
    /// <summary>
    /// Starts <typeparamref name="TWorkflow"/> for <paramref name="hero"/>, as
    /// <see cref="IWorkflowClient.StartAsync{TWorkflow}(object, StartOptions?, CancellationToken)"/>, but typed: a hero of
    /// another type than the workflow's does not compile (<c>client.StartAsync&lt;SignupWorkflow, User&gt;(user)</c>).
    /// </summary>
    /// <typeparam name="TWorkflow">A registered workflow about <typeparamref name="THero"/> heroes.</typeparam>
    /// <typeparam name="THero">The workflow's hero type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="hero">The hero.</param>
    /// <param name="options">Start options.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new workflow.</returns>
    /// <exception cref="WorkflowAlreadyExistsException">An ongoing workflow of this type exists for the hero.</exception>
    public static Task<WorkflowInfo> StartAsync<TWorkflow, THero>(this IWorkflowClient client, THero hero, StartOptions? options = null,
        CancellationToken cancellationToken = default)
        where TWorkflow : Workflow<THero>
        where THero : class
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.StartAsync<TWorkflow>(hero, options, cancellationToken);
    }

    /// <summary>
    /// Starts <typeparamref name="TWorkflow"/> for <paramref name="hero"/>, or returns its ongoing workflow, as
    /// <see cref="IWorkflowClient.StartOrGetExistingAsync{TWorkflow}(object, CancellationToken)"/>, but typed.
    /// </summary>
    /// <typeparam name="TWorkflow">A registered workflow about <typeparamref name="THero"/> heroes.</typeparam>
    /// <typeparam name="THero">The workflow's hero type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="hero">The hero.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new or ongoing workflow.</returns>
    public static Task<WorkflowInfo> StartOrGetExistingAsync<TWorkflow, THero>(this IWorkflowClient client, THero hero,
        CancellationToken cancellationToken = default)
        where TWorkflow : Workflow<THero>
        where THero : class
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.StartOrGetExistingAsync<TWorkflow>(hero, cancellationToken);
    }
}
