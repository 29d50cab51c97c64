using System.Globalization;

namespace ConnectionHerd;

/// <summary>What the herd does, from the command line (see Program.cs for the usage).</summary>
internal sealed record HerdOptions(
    int Port,
    int Connections,
    string? GetPath,
    string? HoldPath,
    int HeldStreamsPerConnection,
    int Concurrency,
    TimeSpan? Pause)
{
    public const string Usage =
        "usage: ConnectionHerd PORT CONNECTIONS [--get PATH] [--hold PATH STREAMS] [--concurrency N] [--pause-ms N]";

    public static HerdOptions Parse(string[] args)
    {
        if (args.Length < 2)
        {
            throw new ArgumentException(Usage);
        }

        var options = new HerdOptions(ParseInt(args[0]), ParseInt(args[1]), null, null, 0, 64, null);
        for (int i = 2; i < args.Length; i++)
        {
            options = args[i] switch
            {
                "--get" => options with { GetPath = Value(args, ++i) },
                "--hold" => options with { HoldPath = Value(args, ++i), HeldStreamsPerConnection = ParseInt(Value(args, ++i)) },
                "--concurrency" => options with { Concurrency = ParseInt(Value(args, ++i)) },
                "--pause-ms" => options with { Pause = TimeSpan.FromMilliseconds(ParseInt(Value(args, ++i))) },
                _ => throw new ArgumentException($"unknown option '{args[i]}'. {Usage}"),
            };
        }

        return options;
    }

    private static string Value(string[] args, int index) =>
        index < args.Length ? args[index] : throw new ArgumentException($"'{args[index - 1]}' needs a value. {Usage}");

    private static int ParseInt(string text) => int.Parse(text, CultureInfo.InvariantCulture);
}
