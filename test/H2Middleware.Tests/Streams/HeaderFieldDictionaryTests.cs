using H2Middleware.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace H2Middleware.Tests.Streams;

/// <summary>
/// The engine's header collection behaves as ASP.NET Core's <see cref="HeaderDictionary"/> does for everything an
/// application can do through <see cref="IHeaderDictionary"/>, short and long (indexed) alike.
/// </summary>
public class HeaderFieldDictionaryTests
{
    [Fact]
    public void NamesMatchInAnyCaseAndKeepTheCaseTheyWereFirstSetIn()
    {
        var fields = new HeaderFieldDictionary { ["Content-Type"] = "text/plain" };
        fields["content-type"] = "text/html";

        Assert.Equal("text/html", fields["CONTENT-TYPE"]);
        Assert.Equal("Content-Type", Assert.Single(fields).Key);
        Assert.Equal(StringValues.Empty, fields["accept"]);
        Assert.False(fields.TryGetValue("accept", out _));
    }

    [Fact]
    public void SettingNoValuesRemovesTheField()
    {
        var fields = new HeaderFieldDictionary { ["a"] = "1", ["b"] = "2" };

        fields["A"] = StringValues.Empty;

        Assert.False(fields.ContainsKey("a"));
        Assert.Equal(["b"], fields.Keys);
        Assert.False(fields.Remove("a"));
    }

    [Fact]
    public void ARepeatedFieldGathersItsValuesInOrder()
    {
        var fields = new HeaderFieldDictionary();

        fields.Append("accept", "text/html");
        fields.Append("user-agent", "test");
        fields.Append("Accept", "image/png");

        Assert.Equal(new StringValues(["text/html", "image/png"]), fields["accept"]);
        Assert.Equal(["accept", "user-agent"], fields.Select(field => field.Key));
    }

    [Fact]
    public void ContentLengthIsReadAsASingleNonNegativeNumberAndWrittenAsText()
    {
        var fields = new HeaderFieldDictionary { ContentLength = 13 };
        Assert.Equal("13", fields["Content-Length"]);
        Assert.Equal(13, fields.ContentLength);

        fields["content-length"] = " 42 ";
        Assert.Equal(42, fields.ContentLength);

        fields["content-length"] = new StringValues(["1", "2"]);
        Assert.Null(fields.ContentLength);

        fields["content-length"] = "-1";
        Assert.Null(fields.ContentLength);

        fields.ContentLength = null;
        Assert.False(fields.ContainsKey("content-length"));
    }

    [Fact]
    public void AReadOnlyCollectionRefusesEveryChangeAndStillReads()
    {
        var fields = new HeaderFieldDictionary { ["a"] = "1" };
        fields.IsReadOnly = true;

        Assert.Throws<InvalidOperationException>(() => fields["a"] = "2");
        Assert.Throws<InvalidOperationException>(() => fields["b"] = "2");
        Assert.Throws<InvalidOperationException>(() => fields.Add("b", "2"));
        Assert.Throws<InvalidOperationException>(() => fields.Append("a", "2"));
        Assert.Throws<InvalidOperationException>(() => fields.Remove("a"));
        Assert.Throws<InvalidOperationException>(() => fields.ContentLength = 1);
        Assert.Throws<InvalidOperationException>(fields.Clear);
        Assert.Equal("1", fields["a"]);
    }

    [Fact]
    public void AddRefusesAPresentNameInAnyCaseAndNullNamesAreRefused()
    {
        var fields = new HeaderFieldDictionary { { "Accept", "*/*" } };

        Assert.Throws<ArgumentException>(() => fields.Add("accept", "text/html"));
        Assert.Throws<ArgumentNullException>(() => fields[null!]);
        Assert.Throws<ArgumentNullException>(() => fields.ContainsKey(null!));
    }

    [Fact]
    public void ChangingTheFieldsWhileEnumeratingThemThrows()
    {
        var fields = new HeaderFieldDictionary { ["a"] = "1", ["b"] = "2" };

        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (KeyValuePair<string, StringValues> field in fields)
            {
                fields["c"] = "3";
            }
        });
    }

    [Fact]
    public void ManyFieldsAreFoundRemovedAndClearedThroughTheIndex()
    {
        var fields = new HeaderFieldDictionary();
        int count = 3 * HeaderFieldDictionary.IndexedFrom;
        for (int i = 0; i < count; i++)
        {
            fields.Append($"x-field-{i}", $"value {i}");
        }

        fields.Remove("X-FIELD-5");
        fields["x-field-7"] = "seven";

        Assert.Equal(count - 1, fields.Count);
        Assert.False(fields.ContainsKey("x-field-5"));
        Assert.Equal("seven", fields["X-Field-7"]);
        Assert.Equal($"value {count - 1}", fields[$"x-field-{count - 1}"]);
        for (int i = 0; i < fields.Count; i++)
        {
            Assert.Equal(fields.At(i).Value, fields[fields.At(i).Name]);
        }

        fields.Clear();
        fields["a"] = "1";
        Assert.Equal("1", Assert.Single(fields).Value);
    }

    /// <summary>
    /// Random sequences of every change, applied to both collections, across the index threshold: after each step the
    /// same names hold the same values, and the same lookups (in another case) answer the same.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomChangesLeaveItAsTheyLeaveAHeaderDictionary(int seed)
    {
        var random = new Random(seed);
        var ours = new HeaderFieldDictionary();
        var theirs = new HeaderDictionary();
        for (int step = 0; step < 2_000; step++)
        {
            string name = $"Field-{random.Next(3 * HeaderFieldDictionary.IndexedFrom)}";
            string otherCase = random.Next(2) == 0 ? name.ToUpperInvariant() : name.ToLowerInvariant();
            string value = $"v{step}";
            switch (random.Next(7))
            {
                case 0:
                    ours[name] = value;
                    theirs[name] = value;
                    break;
                case 1:
                    ours.Append(name, value);
                    theirs[name] = StringValues.Concat(theirs[name], value);
                    break;
                case 2:
                    Assert.Equal(theirs.Remove(otherCase), ours.Remove(otherCase));
                    break;
                case 3:
                    ours[otherCase] = StringValues.Empty;
                    theirs[otherCase] = StringValues.Empty;
                    break;
                case 4:
                    Assert.Equal(theirs.TryAdd(name, value), !ours.ContainsKey(name) && Add(ours, name, value));
                    break;
                case 5:
                    ours.ContentLength = step;
                    theirs.ContentLength = step;
                    break;
                default:
                    if (random.Next(20) == 0)
                    {
                        ours.Clear();
                        theirs.Clear();
                    }

                    break;
            }

            Assert.Equal(theirs[otherCase], ours[otherCase]);
            Assert.Equal(theirs.ContentLength, ours.ContentLength);
            Assert.Equal(theirs.Count, ours.Count);
        }

        Assert.Equal(theirs.OrderBy(field => field.Key, StringComparer.OrdinalIgnoreCase), ours.OrderBy(field => field.Key, StringComparer.OrdinalIgnoreCase));
    }

    private static bool Add(HeaderFieldDictionary fields, string name, string value)
    {
        fields.Add(name, value);
        return true;
    }
}
