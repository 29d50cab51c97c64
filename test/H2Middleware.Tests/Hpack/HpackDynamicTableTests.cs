using System.Text;
using H2Middleware.Hpack;
using static H2Middleware.Tests.Hpack.HpackTestData;

namespace H2Middleware.Tests.Hpack;

/// <summary>The decoder's table allocates its storage on the first insertion, grows to at most twice its size, and then stays.</summary>
public class HpackDynamicTableTests
{
    [Fact]
    public void ADecoderWhosePeerNeverIndexesAllocatesNoTableStorage()
    {
        var sink = new CountingSink();
        byte[] pathWithoutIndexing = Hex("040c 2f73 616d 706c 652f 7061 7468");
        new HpackDecoder().Decode(pathWithoutIndexing, endHeaders: true, sink);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var decoder = new HpackDecoder();
        decoder.Decode(pathWithoutIndexing, endHeaders: true, sink);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The decoder and its empty table: two small objects, far below the 10 KiB a 4,096-octet table once took.
        Assert.InRange(allocated, 1, 256);
        Assert.Equal(0, decoder.DynamicTableCount);
        Assert.Equal(2, sink.Count);
    }

    [Fact]
    public void StorageStartsEmptyAndGrowsWithTheEntries()
    {
        var table = new HpackDynamicTable(4096);
        Assert.Equal(0, table.Bytes.Length);

        table.Add("custom-key"u8, "custom-header"u8, 0);
        int firstCapacity = table.Bytes.Length;
        Assert.InRange(firstCapacity, 23, 256);

        for (int i = 0; i < 200; i++)
        {
            table.Add(Encoding.ASCII.GetBytes($"name-{i}"), Encoding.ASCII.GetBytes($"value-{i}"), 0);
        }

        // Small entries are mostly overhead: the buffer stops growing once their bytes fill at most half of it.
        Assert.InRange(table.Bytes.Length, firstCapacity + 1, 2 * 4096);
        table.Get(1, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value, out _);
        Assert.Equal("name-199", Encoding.ASCII.GetString(name));
        Assert.Equal("value-199", Encoding.ASCII.GetString(value));
    }

    [Theory]
    [InlineData(1, 256)]
    [InlineData(2, 4096)]
    [InlineData(3, 100)]
    public void MatchesAReferenceListThroughGrowthEvictionAndSizeChanges(int seed, int maxSize)
    {
        var random = new Random(seed);
        var table = new HpackDynamicTable(maxSize);
        var reference = new List<(string Name, string Value, int StaticNameIndex)>();
        for (int step = 0; step < 5000; step++)
        {
            if (random.Next(200) == 0)
            {
                maxSize = random.Next(0, 5000);
                table.SetMaxSize(maxSize);
                Trim(reference, maxSize);
            }

            string name = new('n', random.Next(1, 40));
            int valueLength = random.Next(2) == 0 ? random.Next(0, 20) : random.Next(0, (maxSize / 2) + 1);
            string entryValue = $"{step}{new string('v', valueLength)}";
            int staticNameIndex = random.Next(0, 62);
            table.Add(Encoding.ASCII.GetBytes(name), Encoding.ASCII.GetBytes(entryValue), staticNameIndex);
            reference.Insert(0, (name, entryValue, staticNameIndex));
            Trim(reference, maxSize);

            Assert.Equal(reference.Count, table.Count);
            Assert.Equal(reference.Sum(e => EntrySize(e.Name, e.Value)), table.Size);
            for (int index = 1; index <= reference.Count; index++)
            {
                table.Get(index, out ReadOnlySpan<byte> name2, out ReadOnlySpan<byte> value2, out int staticIndex2);
                Assert.Equal(reference[index - 1].Name, Encoding.ASCII.GetString(name2));
                Assert.Equal(reference[index - 1].Value, Encoding.ASCII.GetString(value2));
                Assert.Equal(reference[index - 1].StaticNameIndex, staticIndex2);
            }
        }
    }

    [Fact]
    public void AFullTableChurnsWithoutAllocating()
    {
        var table = new HpackDynamicTable(4096);
        byte[] name = "x-request-id"u8.ToArray();
        byte[] value = new byte[100];
        for (int i = 0; i < 1000; i++)
        {
            table.Add(name, value, 0);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            value[0] = (byte)i;
            table.Add(name, value, 0);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(4096 / EntrySize("x-request-id", new string('v', 100)), table.Count);
    }

    private sealed class CountingSink : IHpackHeaderSink
    {
        public int Count { get; private set; }

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Count++;
    }

    private static int EntrySize(string name, string value) => name.Length + value.Length + HpackDynamicTable.EntryOverhead;

    /// <summary>§4.4: evicts the oldest entries until the table fits, and an entry larger than the table empties it.</summary>
    private static void Trim(List<(string Name, string Value, int StaticNameIndex)> reference, int maxSize)
    {
        while (reference.Sum(e => EntrySize(e.Name, e.Value)) > maxSize)
        {
            reference.RemoveAt(reference.Count - 1);
        }
    }
}
