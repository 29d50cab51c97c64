using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// The default scheduler: every stream that can send gets one turn in order, whatever its priority.
/// Fair and starvation-free; O(1) per decision.
/// </summary>
public sealed class RoundRobinWriteScheduler : IWriteScheduler
{
    private readonly LinkedList<IScheduledStream> _queue = new();

    public void Enqueue(IScheduledStream stream)
    {
        if (stream.SchedulerState is LinkedListNode<IScheduledStream> node)
        {
            if (node.List is null)
            {
                _queue.AddLast(node);
            }

            return;
        }

        stream.SchedulerState = _queue.AddLast(stream);
    }

    public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
    {
        LinkedListNode<IScheduledStream>? first = _queue.First;
        if (first is null)
        {
            stream = null;
            return false;
        }

        _queue.Remove(first);
        stream = first.Value;
        return true;
    }

    public void Remove(IScheduledStream stream)
    {
        if (stream.SchedulerState is LinkedListNode<IScheduledStream> { List: not null } node)
        {
            _queue.Remove(node);
        }
    }
}
