namespace GenevaDrive.Sample;

/// <summary>The sample's home page: start more demo workflows and open the dashboard.</summary>
internal static class HomePage
{
    public static string Render() => """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>GenevaDrive sample</title>
        <style>body{font-family:sans-serif;max-width:44rem;margin:3rem auto;line-height:1.5} form{display:inline} button{margin:.2rem}</style></head>
        <body>
        <h1>GenevaDrive.Hangfire sample</h1>
        <p>Demo workflows are running. Watch them on the <a href="/hangfire/genevadrive/workflows">Workflows page of the Hangfire dashboard</a>.</p>
        <p>Start another one:</p>
        <form method="post" action="/demo/start/onboarding"><button>Onboarding (short waits)</button></form>
        <form method="post" action="/demo/start/payment"><button>Payment (reliable card)</button></form>
        <form method="post" action="/demo/start/trial"><button>Trial (reminder)</button></form>
        <form method="post" action="/demo/start/subscription"><button>Subscription</button></form>
        <form method="post" action="/demo/start/newsletter"><button>Newsletter (3,000 subscribers, about a minute)</button></form>
        <p>The newsletter is a resumable step: stop the sample with <code>kill -9</code> while it sends, start it again, and
        within a minute it continues from its last checkpoint (the workflow page shows each attempt's cursor).</p>
        </body></html>
        """;
}
