using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// Every stream that can send gets one turn in order, whatever its priority: fair and starvation-free, O(1) per
/// decision. A queued stream's <see cref="IScheduledStream.SchedulerState"/> holds its queue node; nodes are pooled,
/// so a steady flow of streams allocates nothing.
/// </summary>
public sealed class RoundRobinWriteScheduler : IWriteScheduler
{
    private readonly LinkedList<IScheduledStream> _queue = new();
    private readonly Stack<LinkedListNode<IScheduledStream>> _freeNodes = new();

    public void Enqueue(IScheduledStream stream)
    {
        if (stream.SchedulerState is LinkedListNode<IScheduledStream>)
        {
            return;
        }

        if (_freeNodes.TryPop(out LinkedListNode<IScheduledStream>? node))
        {
            node.Value = stream;
        }
        else
        {
            node = new LinkedListNode<IScheduledStream>(stream);
        }

        _queue.AddLast(node);
        stream.SchedulerState = node;
    }

    public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
    {
        LinkedListNode<IScheduledStream>? first = _queue.First;
        if (first is null)
        {
            stream = null;
            return false;
        }

        stream = first.Value;
        Release(stream, first);
        return true;
    }

    public void Remove(IScheduledStream stream)
    {
        if (stream.SchedulerState is LinkedListNode<IScheduledStream> node && ReferenceEquals(node.List, _queue))
        {
            Release(stream, node);
        }
    }

    private void Release(IScheduledStream stream, LinkedListNode<IScheduledStream> node)
    {
        _queue.Remove(node);
        stream.SchedulerState = null;
        node.Value = null!;
        _freeNodes.Push(node);
    }
}
