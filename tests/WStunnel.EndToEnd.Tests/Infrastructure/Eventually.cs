namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>Waits on a condition the test can observe, with a generous deadline and a message that says what was awaited.</summary>
internal static class Eventually
{
    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }
}
