using System.Net;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// A response body read from a tunnel stream as it arrives; trailers land in the response once the
/// body ends. After an upgrade (<paramref name="upgraded"/>) its stream is two-way: what YARP writes
/// into it is the client's side of the upgraded connection, sent on the stream's request half.
/// </summary>
internal sealed class TunnelResponseContent(
    TunnelStream stream, HttpResponseMessage response, TunnelEntry tunnel, GatewayMetrics metrics, IDisposable? lifetime, bool upgraded)
    : HttpContent
{
    private TunnelResponseStream? _readStream;

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(GetReadStream());

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => GetReadStream();

    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
        SerializeToStreamAsync(target, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
    {
        await using var source = GetReadStream();
        await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            GetReadStream().Dispose();
            lifetime?.Dispose();
        }

        base.Dispose(disposing);
    }

    private TunnelResponseStream GetReadStream() =>
        _readStream ??= new TunnelResponseStream(stream, response, tunnel, metrics, upgraded ? new TunnelWriteStream(stream, tunnel, metrics) : null);

    private sealed class TunnelResponseStream(TunnelStream stream, HttpResponseMessage response, TunnelEntry tunnel, GatewayMetrics metrics, TunnelWriteStream? upgradedWrites)
        : Stream
    {
        // Answers to HEAD, and 204, 205 and 304, end with their head (RFC 9110 §9.3.2, §15.3.5, §15.3.6,
        // §15.4.5): HttpClient reads no body after them, and Kestrel refuses one or counts it against the
        // Content-Length. A body from the agent is left out.
        private readonly bool _bodyless = upgradedWrites is null
            && (response.RequestMessage?.Method == HttpMethod.Head
                || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.ResetContent or HttpStatusCode.NotModified);

        // What the head promised, where a body must keep the promise: HttpClient fails a body that ends
        // short of its Content-Length, and so YARP answers 502 instead of passing it on as whole.
        private readonly long? _announced = upgradedWrites is null ? response.Content.Headers.ContentLength : null;

        private long _received;
        private bool _ended;
        private bool _disposed;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => upgradedWrites is not null;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_ended)
            {
                return 0;
            }

            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read > 0 && _bodyless)
            {
                // The response is whole without it; tell the agent to stop sending.
                stream.Reset(ErrorCode.ProtocolError);
                _ended = true;
                return 0;
            }

            if (read > 0)
            {
                _received += read;
                tunnel.Traffic.ReceivedFromAgent(read);
                metrics.ReceivedFromAgent(read);
            }
            else if (!buffer.IsEmpty)
            {
                if (_received < _announced && !_bodyless)
                {
                    stream.Reset(ErrorCode.ProtocolError);
                    _ended = true;
                    throw new IOException($"The tunnel's agent ended its response body after {_received} of the {_announced} bytes its Content-Length announced.");
                }

                _ended = true;
                if (stream.Trailers is { } trailers)
                {
                    foreach (var (name, value) in trailers)
                    {
                        response.TrailingHeaders.TryAddWithoutValidation(name, value);
                    }
                }
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return upgradedWrites?.WriteAsync(buffer, cancellationToken) ?? throw new NotSupportedException();
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) =>
            WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        protected override void Dispose(bool disposing)
        {
            if (!_disposed)
            {
                _disposed = true;

                // Abandoned before the end (client gone, timeout): tell the agent to stop sending.
                if (!_ended)
                {
                    stream.Reset();
                }
                else if (upgradedWrites is not null)
                {
                    // The target closed its side and YARP is done with the client's: the connection ends.
                    stream.TryComplete();
                }

                stream.CloseRead();
            }

            base.Dispose(disposing);
        }
    }
}
