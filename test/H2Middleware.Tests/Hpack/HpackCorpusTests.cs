using System.Buffers;
using System.Text.Json;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

/// <summary>
/// The public hpack-test-case corpus (TestData/hpack-test-case, MIT, see its LICENSE): every story of every
/// implementation decodes to the recorded headers, and every raw-data story survives our encoder then our decoder.
/// </summary>
public class HpackCorpusTests
{
    private static readonly string CorpusRoot = Path.Combine(AppContext.BaseDirectory, "TestData", "hpack-test-case");

    public static TheoryData<string> EncodedStories()
    {
        var data = new TheoryData<string>();
        foreach (string directory in Directory.GetDirectories(CorpusRoot).Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(directory) == "raw-data")
            {
                continue;
            }

            foreach (string file in Directory.GetFiles(directory, "story_*.json").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(CorpusRoot, file));
            }
        }

        return data;
    }

    public static TheoryData<string> RawStories()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.GetFiles(Path.Combine(CorpusRoot, "raw-data"), "story_*.json").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(CorpusRoot, file));
        }

        return data;
    }

    [Fact]
    public void TheWholeCorpusIsPresent()
    {
        Assert.True(File.Exists(Path.Combine(CorpusRoot, "LICENSE")));
        Assert.True(EncodedStories().Count >= 200, "every implementation's stories are copied");
        Assert.Equal(32, RawStories().Count);
    }

    [Theory]
    [MemberData(nameof(EncodedStories))]
    public void StoryDecodesToTheRecordedHeaders(string story)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(CorpusRoot, story)));
        var decoder = new HpackDecoder(maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20);
        int seqno = 0;
        foreach (JsonElement testCase in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (testCase.TryGetProperty("header_table_size", out JsonElement tableSize) && tableSize.ValueKind == JsonValueKind.Number)
            {
                decoder.MaxAllowedTableSize = tableSize.GetInt32();
            }

            List<KeyValuePair<string, string>> decoded = HpackTestData.Decode(decoder, Convert.FromHexString(testCase.GetProperty("wire").GetString()!));
            Assert.True(ReadHeaders(testCase).SequenceEqual(decoded), $"{story} case {seqno}");
            seqno++;
        }
    }

    [Theory]
    [MemberData(nameof(RawStories))]
    public void RawStoryRoundTripsThroughOurEncoderAndDecoder(string story)
    {
        List<List<KeyValuePair<string, string>>> cases = ReadRawStory(story);
        RoundTrip(story, cases, new HpackEncoder(), new HpackDecoder(maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20), changeTableSize: false);
        RoundTrip(story, cases, new HpackEncoder(maxDynamicTableSize: 256), new HpackDecoder(maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20), changeTableSize: false);
        RoundTrip(story, cases, new HpackEncoder(), new HpackDecoder(maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20), changeTableSize: true);
    }

    private static void RoundTrip(string story, List<List<KeyValuePair<string, string>>> cases, HpackEncoder encoder, HpackDecoder decoder, bool changeTableSize)
    {
        var block = new ArrayBufferWriter<byte>();
        for (int i = 0; i < cases.Count; i++)
        {
            if (changeTableSize && i == cases.Count / 3)
            {
                encoder.SetPeerHeaderTableSize(0);
            }
            else if (changeTableSize && i == 2 * cases.Count / 3)
            {
                encoder.SetPeerHeaderTableSize(4096);
            }

            block.ResetWrittenCount();
            encoder.BeginHeaderBlock(block);
            foreach (var (name, value) in cases[i])
            {
                encoder.EncodeHeader(name, value, block);
            }

            List<KeyValuePair<string, string>> decoded = HpackTestData.Decode(decoder, block.WrittenSpan.ToArray());
            Assert.True(cases[i].SequenceEqual(decoded), $"{story} case {i}");
            Assert.Equal(encoder.DynamicTableSize, decoder.DynamicTableSize);
        }
    }

    private static List<List<KeyValuePair<string, string>>> ReadRawStory(string story)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(CorpusRoot, story)));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(ReadHeaders).ToList();
    }

    private static List<KeyValuePair<string, string>> ReadHeaders(JsonElement testCase)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (JsonElement field in testCase.GetProperty("headers").EnumerateArray())
        {
            foreach (JsonProperty property in field.EnumerateObject())
            {
                headers.Add(new(property.Name, property.Value.GetString()!));
            }
        }

        return headers;
    }
}
