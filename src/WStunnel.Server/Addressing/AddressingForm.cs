namespace WStunnel.Server.Addressing;

/// <summary>Where a request carries its token: the original WStunnel's forms.</summary>
internal enum AddressingForm
{
    /// <summary><c>X-Token: TOKEN</c></summary>
    Header,

    /// <summary><c>/_token/TOKEN/rest?query</c></summary>
    Path,

    /// <summary><c>Host: TOKEN.tunnel.example.com</c> under a configured suffix.</summary>
    HostLabel,

    /// <summary><c>Host: TOKEN</c></summary>
    WholeHost,
}
