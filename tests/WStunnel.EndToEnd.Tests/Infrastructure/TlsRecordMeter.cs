namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Follows one direction of a TLS byte stream, chunk by chunk, and remembers the largest record it
/// saw. Only the 5-byte record headers are read (type, version, length); the contents stay sealed.
/// </summary>
internal sealed class TlsRecordMeter
{
    private const byte ApplicationData = 23;
    private readonly byte[] _header = new byte[5];
    private int _headerRead;
    private int _bodyLeft;
    private int _largest;

    /// <summary>The largest application-data record so far, in bytes after its header.</summary>
    public int LargestApplicationRecord => Volatile.Read(ref _largest);

    public void Observe(ReadOnlySpan<byte> chunk)
    {
        while (!chunk.IsEmpty)
        {
            if (_bodyLeft > 0)
            {
                var skip = Math.Min(_bodyLeft, chunk.Length);
                _bodyLeft -= skip;
                chunk = chunk[skip..];
                continue;
            }

            var take = Math.Min(_header.Length - _headerRead, chunk.Length);
            chunk[..take].CopyTo(_header.AsSpan(_headerRead));
            _headerRead += take;
            chunk = chunk[take..];
            if (_headerRead < _header.Length)
            {
                return;
            }

            _headerRead = 0;
            _bodyLeft = (_header[3] << 8) | _header[4];
            if (_header[0] == ApplicationData && _bodyLeft > _largest)
            {
                Volatile.Write(ref _largest, _bodyLeft);
            }
        }
    }
}
