using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moq;
using WStunnel.Server.Forwarding;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Server.Tests.Forwarding;

public sealed class TunnelForwarderHttpClientFactoryTests
{
    [Fact]
    public void The_registered_factory_is_decorated_and_its_clients_reused_when_it_reuses_them()
    {
        var inner = new Mock<IForwarderHttpClientFactory>();
        var innerClient = new HttpMessageInvoker(new SocketsHttpHandler());
        inner.Setup(f => f.CreateClient(It.IsAny<ForwarderHttpClientContext>()))
            .Returns((ForwarderHttpClientContext c) => c.OldClient ?? innerClient);
        var factory = new TunnelForwarderHttpClientFactory(inner.Object, null!);

        var first = factory.CreateClient(new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty });
        var second = factory.CreateClient(new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty, OldClient = first });

        Assert.IsType<TunnelForwarderHttpClientFactory.TunnelAwareHttpMessageInvoker>(first);
        Assert.Same(first, second);

        // The inner factory decided about reuse with its own client, not with the wrapper.
        inner.Verify(f => f.CreateClient(It.Is<ForwarderHttpClientContext>(c => c.OldClient == innerClient)), Times.Once);
    }

    [Fact]
    public async Task ConfigureHttpClient_before_AddWStunnel_keeps_working_for_ordinary_clusters()
    {
        var configured = false;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddReverseProxy()
            .ConfigureHttpClient((_, handler) => configured = true)
            .AddWStunnel();
        await using var app = builder.Build();

        var factory = app.Services.GetRequiredService<IForwarderHttpClientFactory>();
        var client = factory.CreateClient(new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty });

        Assert.IsType<TunnelForwarderHttpClientFactory>(factory);
        Assert.True(configured);
        client.Dispose();
    }

    [Fact]
    public async Task A_client_factory_registered_after_AddWStunnel_fails_start_up_with_a_clear_message()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Services.AddReverseProxy().AddWStunnel().ConfigureHttpClient((_, _) => { });
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
        Assert.Contains("before AddWStunnel()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_WStunnel_settings_stop_start_up_naming_the_setting()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Configuration["WStunnel:MinimumTokenLength"] = "4";
        builder.Services.AddReverseProxy().AddWStunnel();
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("WStunnel:MinimumTokenLength", error.Message, StringComparison.Ordinal);
    }
}
