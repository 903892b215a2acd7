using System.Net;
using System.Net.Sockets;

namespace GenevaDrive.Soak;

/// <summary>
/// A TCP forwarder on 127.0.0.1 in front of the database that can hang like a broken network path: while hung
/// it moves no bytes in either direction and closes nothing, so neither end learns anything; a connection
/// accepted meanwhile is held the same way. <see cref="Resume"/> closes every connection that was open during
/// the hang and forwards new connections again.
/// </summary>
internal sealed class HangingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Link> _links = [];
    // Completed while bytes flow; a pending one while the path hangs.
    private TaskCompletionSource _flowing = Flowing();
    private Task _accepting = Task.CompletedTask;

    public HangingProxy(IPEndPoint target)
    {
        _target = target;
    }

    /// <summary>The port the proxy listens on (after <see cref="Start"/>).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Start()
    {
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
    }

    /// <summary>Stops moving bytes on every connection, open or yet to come. Returns how many are open.</summary>
    public int Hang()
    {
        lock (_lock)
        {
            if (_flowing.Task.IsCompleted)
            {
                _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return _links.Count;
        }
    }

    /// <summary>Closes every connection held during the hang and forwards again. Returns how many were closed.</summary>
    public int Resume()
    {
        List<Link> stuck;
        TaskCompletionSource hung;
        lock (_lock)
        {
            stuck = [.. _links];
            _links.Clear();
            hung = _flowing;
            _flowing = Flowing();
        }

        foreach (var link in stuck)
        {
            link.Close();
        }

        hung.TrySetResult();
        return stuck.Count;
    }

    /// <summary>The local ports of the open upstream connections: the database sees them as its clients' ports.</summary>
    public IReadOnlyList<int> UpstreamPorts()
    {
        lock (_lock)
        {
            return [.. _links.Select(link => link.UpstreamPort).OfType<int>()];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Resume();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The listener was stopped under the pending accept.
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource Flowing()
    {
        var flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        flowing.SetResult();
        return flowing;
    }

    private Task WhenFlowingAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            return _flowing.Task.WaitAsync(ct);
        }
    }

    private async Task AcceptAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(stop);
            var link = new Link(client);
            lock (_lock)
            {
                _links.Add(link);
            }

            _ = ForwardAsync(link);
        }
    }

    private async Task ForwardAsync(Link link)
    {
        try
        {
            // A connection accepted while the path hangs is not forwarded: it waits, and is closed on resume.
            await WhenFlowingAsync(link.Closed);
            var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            link.Attach(upstream);
            await upstream.ConnectAsync(_target, link.Closed);
            await Task.WhenAll(PumpAsync(link, link.Client, upstream), PumpAsync(link, upstream, link.Client));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // Closed by either end, or by Resume.
        }
        finally
        {
            link.Close();
            lock (_lock)
            {
                _links.Remove(link);
            }
        }
    }

    /// <summary>Copies one direction; while the path hangs it neither reads nor writes. Either end closing closes both.</summary>
    private async Task PumpAsync(Link link, Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                await WhenFlowingAsync(link.Closed);
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, link.Closed);
                if (read == 0)
                {
                    return;
                }

                await WhenFlowingAsync(link.Closed);
                for (var sent = 0; sent < read;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, link.Closed);
                }
            }
        }
        finally
        {
            link.Close();
        }
    }

    /// <summary>One accepted connection and, once connected, its upstream socket.</summary>
    private sealed class Link(Socket client)
    {
        private readonly CancellationTokenSource _closed = new();
        private Socket? _upstream;
        private int _isClosed;

        public Socket Client => client;

        public CancellationToken Closed => _closed.Token;

        public int? UpstreamPort
        {
            get
            {
                try
                {
                    return (Volatile.Read(ref _upstream)?.LocalEndPoint as IPEndPoint)?.Port;
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
            }
        }

        public void Attach(Socket upstream)
        {
            Interlocked.Exchange(ref _upstream, upstream);
            if (Volatile.Read(ref _isClosed) == 1)
            {
                upstream.Dispose();
            }
        }

        public void Close()
        {
            if (Interlocked.Exchange(ref _isClosed, 1) == 1)
            {
                return;
            }

            _closed.Cancel();
            client.Dispose();
            Volatile.Read(ref _upstream)?.Dispose();
        }
    }
}
