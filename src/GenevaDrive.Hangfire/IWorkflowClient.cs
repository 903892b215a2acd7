using System.Data.Common;
using GenevaDrive.Registration;

namespace GenevaDrive;

/// <summary>
/// Starts, controls and queries workflows from application code. Registered by <c>AddGenevaDrive</c>;
/// usable without DI through <c>GenevaDriveRuntime</c>.
/// </summary>
public interface IWorkflowClient
{
    /// <summary>
    /// Starts <typeparamref name="TWorkflow"/> for <paramref name="hero"/>: writes the workflow and its first
    /// step execution in one transaction, then creates the first step's Hangfire job. A workflow without
    /// steps finishes at once.
    /// </summary>
    /// <typeparam name="TWorkflow">A registered workflow.</typeparam>
    /// <param name="hero">The hero; its type must be the workflow's hero type.</param>
    /// <param name="options">Start options.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new workflow.</returns>
    /// <exception cref="WorkflowAlreadyExistsException">An ongoing workflow of this type exists for the hero.</exception>
    Task<WorkflowInfo> StartAsync<TWorkflow>(object hero, StartOptions? options = null, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow;

    /// <summary>
    /// Starts <typeparamref name="TWorkflow"/> inside the caller's open connection and transaction, so the
    /// workflow commits (or rolls back) with the caller's own data. The step job cannot be created before
    /// that commit: call <see cref="DispatchAsync"/> after committing; if that never happens, the
    /// reconciler creates the job once the step is overdue.
    /// </summary>
    /// <typeparam name="TWorkflow">A registered workflow.</typeparam>
    /// <param name="hero">The hero.</param>
    /// <param name="connection">The caller's open connection to the workflow database.</param>
    /// <param name="transaction">The caller's transaction, if any.</param>
    /// <param name="options">Start options.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new workflow (not yet committed).</returns>
    Task<WorkflowInfo> StartAsync<TWorkflow>(object hero, DbConnection connection, DbTransaction? transaction,
        StartOptions? options = null, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow;

    /// <summary>
    /// Starts a workflow whose type is known only at run time (e.g. from configuration); otherwise as
    /// <see cref="StartAsync{TWorkflow}(object, StartOptions?, CancellationToken)"/>.
    /// </summary>
    /// <param name="workflowType">A registered workflow class.</param>
    /// <param name="hero">The hero.</param>
    /// <param name="options">Start options.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The started workflow.</returns>
    /// <exception cref="ArgumentException"><paramref name="workflowType"/> is not a registered workflow, or the hero is of the wrong type.</exception>
    /// <exception cref="WorkflowAlreadyExistsException">An ongoing single-instance workflow exists for the hero.</exception>
    Task<WorkflowInfo> StartAsync(Type workflowType, object hero, StartOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Starts a workflow of a run-time type for the hero, or returns the ongoing one if it exists.</summary>
    /// <param name="workflowType">A registered workflow class.</param>
    /// <param name="hero">The hero.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new or existing workflow.</returns>
    Task<WorkflowInfo> StartOrGetExistingAsync(Type workflowType, object hero, CancellationToken cancellationToken = default);

    /// <summary>A read-only view of a registered workflow's definition: its steps in run order, waits, conditions and policies.</summary>
    /// <param name="workflowType">A registered workflow class.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentException">The type is not a registered workflow.</exception>
    WorkflowDescription Describe(Type workflowType);

    /// <summary>The definition of the registered workflow named <paramref name="workflowName"/> (as stored in its rows).</summary>
    /// <param name="workflowName">The stable workflow name, e.g. <see cref="WorkflowInfo.Name"/>.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentException">No registered workflow has that name.</exception>
    WorkflowDescription Describe(string workflowName);

    /// <summary>Starts <typeparamref name="TWorkflow"/> for the hero, or returns the ongoing one if it exists.</summary>
    /// <typeparam name="TWorkflow">A registered workflow.</typeparam>
    /// <param name="hero">The hero.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The new or existing workflow.</returns>
    Task<WorkflowInfo> StartOrGetExistingAsync<TWorkflow>(object hero, CancellationToken cancellationToken = default)
        where TWorkflow : Workflow;

    /// <summary>
    /// Creates the Hangfire job of the workflow's scheduled step if it has none yet (after a transactional start), or
    /// moves its scheduled job to its queue when the step became due early (after an event sent in a transaction).
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The job id, or null when nothing needed a job.</returns>
    Task<string?> DispatchAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends the event <paramref name="eventName"/> to a workflow. If a step waits for it, that step runs now (its
    /// job is moved to its queue after the commit); otherwise the event is kept, and the first step that waits for
    /// an event of that name takes it at once. A second delivery with the same <paramref name="eventId"/> is ignored.
    /// The caller's trace context (<see cref="System.Diagnostics.Activity.Current"/>) is kept with the event, and
    /// the step that takes it links to it.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="eventName">The event's name, as the workflow's <c>WaitFor</c> names it.</param>
    /// <param name="payload">A payload serialized with System.Text.Json, read by the workflow with <c>ReceivedEventAsync&lt;T&gt;</c>; null for none.</param>
    /// <param name="eventId">The sender's id for this event (e.g. a webhook's delivery id); a generated one when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How the workflow took the event.</returns>
    /// <exception cref="WorkflowNotFoundException">The workflow does not exist.</exception>
    /// <exception cref="ArgumentException">The event name or id breaks a rule (the message names it).</exception>
    Task<EventDelivery> SendEventAsync(long workflowId, string eventName, object? payload = null, string? eventId = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends the event to every ongoing <typeparamref name="TWorkflow"/> of the hero (see
    /// <see cref="SendEventAsync(long, string, object?, string?, CancellationToken)"/>).
    /// </summary>
    /// <typeparam name="TWorkflow">A registered workflow.</typeparam>
    /// <param name="hero">The hero.</param>
    /// <param name="eventName">The event's name.</param>
    /// <param name="payload">The payload, or null.</param>
    /// <param name="eventId">The sender's id for this event; a generated one when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>One result per ongoing workflow; empty when the hero has none.</returns>
    Task<IReadOnlyList<EventDelivery>> SendEventAsync<TWorkflow>(object hero, string eventName, object? payload = null, string? eventId = null,
        CancellationToken cancellationToken = default)
        where TWorkflow : Workflow;

    /// <summary>
    /// Sends the event inside the caller's open connection and transaction, so it is kept only if the caller
    /// commits. The waiting step's job is moved after the caller's commit by <see cref="DispatchAsync"/>, or by the
    /// reconciler within a minute.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="eventName">The event's name.</param>
    /// <param name="payload">The payload, or null.</param>
    /// <param name="eventId">The sender's id for this event; a generated one when null.</param>
    /// <param name="connection">The caller's open connection to the workflow database.</param>
    /// <param name="transaction">The caller's transaction on it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How the workflow took the event (effective once the caller commits).</returns>
    Task<EventDelivery> SendEventAsync(long workflowId, string eventName, object? payload, string? eventId, DbConnection connection,
        DbTransaction transaction, CancellationToken cancellationToken = default);

    /// <summary>
    /// Pauses, resumes, cancels or skips inside the caller's open connection and transaction, so the change commits (or
    /// rolls back) with the caller's own work — e.g. cancel a user's onboarding in the transaction that deletes the
    /// user. The same rules as the other overloads apply under the workflow's row lock. Hangfire job changes cannot
    /// join a database transaction: after a pause or cancel, the step's pending job finds the workflow paused or
    /// canceled when it runs and does nothing; after a resume or skip, call <see cref="DispatchAsync"/> once the
    /// caller has committed (or the reconciler creates the job within a minute).
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="command">What to do.</param>
    /// <param name="connection">The caller's open connection to the workflow database.</param>
    /// <param name="transaction">The caller's transaction on it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change (effective once the caller commits).</returns>
    /// <exception cref="InvalidWorkflowStateException">The command is not legal in the workflow's state.</exception>
    /// <exception cref="WorkflowNotFoundException">The workflow does not exist.</exception>
    Task<WorkflowInfo> ControlAsync(long workflowId, WorkflowCommand command, DbConnection connection, DbTransaction transaction,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// After giving a hero class a <see cref="HeroNameAttribute"/> (or renaming the one it has), moves the workflows
    /// stored under its former name — by default its full class name — to the new one, so they are found by hero
    /// again and count as ongoing. Run it once, after every process uses the new name (idempotent).
    /// </summary>
    /// <typeparam name="THero">The hero class, as it is named now.</typeparam>
    /// <param name="formerName">The name its workflows are stored under, e.g. <c>"MyApp.Users.User"</c>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many workflows were moved.</returns>
    Task<int> MigrateHeroTypeNameAsync<THero>(string formerName, CancellationToken cancellationToken = default)
        where THero : class;

    /// <summary>Every event the workflow received, oldest first, with when and by which step execution it was taken.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The events.</returns>
    Task<IReadOnlyList<WorkflowEventInfo>> GetEventsAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>Pauses a ready workflow; its scheduled step stays and runs on resume.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change.</returns>
    /// <exception cref="InvalidWorkflowStateException">The workflow is not ready.</exception>
    Task<WorkflowInfo> PauseAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>Resumes a paused workflow: overdue steps run at once, future ones at their time.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change.</returns>
    /// <exception cref="InvalidWorkflowStateException">The workflow is not paused.</exception>
    Task<WorkflowInfo> ResumeAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>Cancels a ready or paused workflow and its scheduled step.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change.</returns>
    /// <exception cref="InvalidWorkflowStateException">The workflow is performing, finished or canceled.</exception>
    Task<WorkflowInfo> CancelAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Skips the current step of a ready or paused workflow and schedules the next (finishing after the last). A step
    /// stored under a name this build declares renamed is followed by the step after the renamed one; a retired step by
    /// the step its declaration names.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change.</returns>
    /// <exception cref="InvalidWorkflowStateException">The workflow is performing, finished or canceled.</exception>
    /// <exception cref="StepNotDefinedException">
    /// The current step is neither defined nor declared renamed or retired in this build, so the step after it is unknown:
    /// nothing changes (a skip never finishes such a workflow). Jump it to a defined step instead (<see cref="JumpToAsync"/>).
    /// </exception>
    Task<WorkflowInfo> SkipAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves a ready or paused workflow to the step <paramref name="stepName"/> — earlier (to run steps again) or later —
    /// and runs it now (a step that waits for an event waits again). The scheduled execution, if any, is recorded as
    /// skipped; the history and the workflow's reason say who jumped from where to where; the workflow then goes on from
    /// that step as usual.
    /// </summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="stepName">A step this build defines (a former name declared with <c>steps.Renamed</c> is accepted too).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflow after the change.</returns>
    /// <exception cref="InvalidWorkflowStateException">The workflow is performing, finished or canceled.</exception>
    /// <exception cref="StepNotDefinedException">The workflow's type defines no step <paramref name="stepName"/>; nothing changes.</exception>
    Task<WorkflowInfo> JumpToAsync(long workflowId, string stepName, CancellationToken cancellationToken = default);

    /// <summary>
    /// The definition drift report: in-flight workflows (ready, performing, paused) standing at a step — or of a type —
    /// that this build neither defines nor declares (<see cref="DriftKind.StepNotDefined"/>,
    /// <see cref="DriftKind.WorkflowNotRegistered"/>), and those at declared former or retired names, by type, step and
    /// state. One grouped query over the in-flight rows.
    /// </summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The report.</returns>
    Task<DefinitionDrift> GetDefinitionDriftAsync(CancellationToken cancellationToken = default);

    /// <summary>The workflow, or null.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The snapshot or null.</returns>
    Task<WorkflowInfo?> GetAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>Workflows in <paramref name="state"/>, newest first.</summary>
    /// <param name="state">The state.</param>
    /// <param name="limit">At most this many.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflows.</returns>
    Task<IReadOnlyList<WorkflowInfo>> GetByStateAsync(WorkflowState state, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>The child workflows <paramref name="parentWorkflowId"/>'s <c>StartChildren</c> steps started, newest first.</summary>
    /// <param name="parentWorkflowId">The parent workflow.</param>
    /// <param name="limit">At most this many.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The children.</returns>
    Task<IReadOnlyList<WorkflowInfo>> GetChildrenAsync(long parentWorkflowId, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>Ongoing (ready, performing, paused) workflows, newest first.</summary>
    /// <param name="limit">At most this many of each state.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflows.</returns>
    Task<IReadOnlyList<WorkflowInfo>> GetOngoingAsync(int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>Every workflow of the hero, oldest first.</summary>
    /// <param name="hero">The hero.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The workflows.</returns>
    Task<IReadOnlyList<WorkflowInfo>> GetByHeroAsync<THero>(THero hero, CancellationToken cancellationToken = default)
        where THero : class;

    /// <summary>The step executions of a workflow, in the order they were created.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The history.</returns>
    Task<IReadOnlyList<StepExecutionInfo>> GetHistoryAsync(long workflowId, CancellationToken cancellationToken = default);

    /// <summary>The scheduled or in-progress step execution of a workflow, or null.</summary>
    /// <param name="workflowId">The workflow.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The execution or null.</returns>
    Task<StepExecutionInfo?> GetCurrentExecutionAsync(long workflowId, CancellationToken cancellationToken = default);
}
