using System.Net;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Session;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>A response body read from a tunnel stream as it arrives; trailers land in the response once the body ends.</summary>
internal sealed class TunnelResponseContent(TunnelStream stream, HttpResponseMessage response, TunnelEntry tunnel, GatewayMetrics metrics, IDisposable? lifetime)
    : HttpContent
{
    private TunnelReadStream? _readStream;

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

    private TunnelReadStream GetReadStream() => _readStream ??= new TunnelReadStream(stream, response, tunnel, metrics);

    private sealed class TunnelReadStream(TunnelStream stream, HttpResponseMessage response, TunnelEntry tunnel, GatewayMetrics metrics) : Stream
    {
        private bool _ended;
        private bool _disposed;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

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
            if (read > 0)
            {
                tunnel.Traffic.ReceivedFromAgent(read);
                metrics.ReceivedFromAgent(read);
            }
            else if (!buffer.IsEmpty)
            {
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

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

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

                stream.CloseRead();
            }

            base.Dispose(disposing);
        }
    }
}
