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
        <form method="post" action="/demo/start/signup"><button>Signup (waits for its e-mail confirmation)</button></form>
        <form method="post" action="/demo/start/billing"><button>Monthly billing (25 child invoices, waits for all)</button></form>
        <h2>Confirm an e-mail address</h2>
        <p>A signup workflow mails a confirmation link and waits up to 10 minutes for the click (an external event; no job polls).
        This form is the link: it sends <code>email_confirmed</code> to the customer's waiting signup. The demo starts one for <code>ivy</code>.</p>
        <form method="post" action="/demo/confirm"><input name="customer" value="ivy"> <button>Confirm e-mail</button></form>
        <p>The newsletter is a resumable step: stop the sample with <code>kill -9</code> while it sends, start it again, and
        within a minute it continues from its last checkpoint (the workflow page shows each attempt's cursor).</p>
        <p>The monthly billing fans out: its first step starts one child <code>invoice</code> workflow per line of the bill (25, in
        batches of 10), the next waits until all of them have finished (the last invoice wakes it; no job polls), and the last one
        mails a statement summed from the amounts the invoices recorded.</p>
        </body></html>
        """;
}
