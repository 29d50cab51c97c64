using System.Net;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace H2Middleware.Hosting;

/// <summary>
/// The addresses the host asked the server to listen on (<c>urls</c>, <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c>,
/// <c>app.Urls</c>), recorded by <see cref="Http2ServeLoopServer"/> as the server starts: Kestrel clears that list before
/// it binds them, and the endpoint defaults hook needs to know which address, and so which scheme, an endpoint came from.
/// Kestrel applies the defaults to the addresses in their order, so each is found once, first come first: two addresses
/// on the same dynamic port (<c>http://127.0.0.1:0;https://127.0.0.1:0</c>) are told apart by their order.
/// </summary>
internal sealed class HostingUrls
{
    private readonly List<BindingAddress> _addresses = [];

    /// <summary>Whether the host said its addresses win over endpoints configured in Kestrel.</summary>
    public bool PreferHostingUrls { get; private set; }

    public void Record(IServerAddressesFeature? feature)
    {
        lock (_addresses)
        {
            PreferHostingUrls = feature?.PreferHostingUrls ?? false;
            _addresses.Clear();
            _addresses.AddRange(feature?.Addresses.Select(BindingAddress.Parse) ?? []);
        }
    }

    /// <summary>Takes the address Kestrel made <paramref name="listenOptions"/> from, and tells whether it is https.</summary>
    public bool TryTake(ListenOptions listenOptions, out bool https)
    {
        lock (_addresses)
        {
            int index = _addresses.FindIndex(address => Matches(address, listenOptions));
            https = index >= 0 && string.Equals(_addresses[index].Scheme, "https", StringComparison.OrdinalIgnoreCase);
            if (index >= 0)
            {
                _addresses.RemoveAt(index);
            }

            return index >= 0;
        }
    }

    /// <summary>
    /// As Kestrel parses an address: a Unix socket path, a named pipe, or a port on <c>localhost</c>, on an IP address,
    /// or (any other host name, <c>*</c>, <c>+</c>) on every address.
    /// </summary>
    private static bool Matches(BindingAddress address, ListenOptions listenOptions)
    {
        if (address.IsUnixPipe)
        {
            return listenOptions.SocketPath == address.UnixPipePath;
        }

        if (address.IsNamedPipe)
        {
            return listenOptions.PipeName == address.NamedPipeName;
        }

        if (listenOptions.EndPoint is not IPEndPoint endpoint || endpoint.Port != address.Port)
        {
            return false;
        }

        IPAddress expected = string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(address.Host.Trim('[', ']'), out IPAddress? ip) ? ip
            : IPAddress.IPv6Any;
        return endpoint.Address.Equals(expected);
    }
}
