using System.Security.Claims;
using Hangfire.Dashboard;

namespace GenevaDrive.Dashboard;

/// <summary>Who sent a dashboard command, for the workflow's history and reason.</summary>
internal static class DashboardActor
{
    /// <summary>
    /// "dashboard user 'alice'" when the host authenticated the request (ASP.NET Core's <c>HttpContext.User</c>, read
    /// without a reference to ASP.NET Core, so the core package stays host-neutral), else "dashboard".
    /// </summary>
    public static string Of(DashboardContext context)
    {
        try
        {
            var http = context.GetType().GetProperty("HttpContext")?.GetValue(context);
            if (http?.GetType().GetProperty("User")?.GetValue(http) is ClaimsPrincipal { Identity: { IsAuthenticated: true, Name: { Length: > 0 } name } })
            {
                return $"dashboard user '{(name.Length > 100 ? name[..100] : name)}'";
            }
        }
        catch (System.Reflection.TargetInvocationException)
        {
            // A host whose context throws here: the action is still recorded, as the dashboard's.
        }

        return "dashboard";
    }
}
