using H2Middleware.Output;

namespace H2Middleware.Tests.Output;

public class CheckedFieldStringsTests
{
    [Fact]
    public void AStringIsKnownOnlyOnceAddedAndOnlyAsTheSameInstance()
    {
        var checkedStrings = new CheckedFieldStrings();
        string value = "text/plain";
        Assert.False(checkedStrings.Contains(value));

        checkedStrings.Add(value);

        Assert.True(checkedStrings.Contains(value));
        // An equal string built elsewhere may be a different instance: it is checked again.
        Assert.False(checkedStrings.Contains(new string("text/plain".AsSpan())));
    }

    [Fact]
    public void AStringInTheSameSlotReplacesTheOneBefore()
    {
        var checkedStrings = new CheckedFieldStrings();
        // Same length and last character: the same slot.
        string first = "abc";
        string second = "xyc";
        checkedStrings.Add(first);
        checkedStrings.Add(second);

        Assert.False(checkedStrings.Contains(first));
        Assert.True(checkedStrings.Contains(second));
    }

    [Fact]
    public void TheEmptyStringIsNeverRemembered()
    {
        var checkedStrings = new CheckedFieldStrings();
        checkedStrings.Add(string.Empty);

        Assert.False(checkedStrings.Contains(string.Empty));
    }
}
