namespace H2Middleware.Scheduling;

/// <summary>
/// The tree's idle and closed nodes, least recently named first. RFC 7540 §5.3.4 asks to keep them for a while so that
/// late PRIORITY frames and dependencies on finished streams still make sense, but a client could name any number of
/// idle streams: the scheduler evicts from the old end past its bound. Naming a node again moves it to the new end, so
/// a grouping node that every new request depends on stays while a flood of closed streams flows past it.
/// </summary>
internal sealed class RetainedPriorityNodes
{
    private PriorityTreeNode? _newest;

    public int Count { get; private set; }

    public PriorityTreeNode? Oldest { get; private set; }

    public void AddNewest(PriorityTreeNode node)
    {
        node.OlderRetained = _newest;
        node.NewerRetained = null;
        if (_newest is null)
        {
            Oldest = node;
        }
        else
        {
            _newest.NewerRetained = node;
        }

        _newest = node;
        Count++;
    }

    public void Remove(PriorityTreeNode node)
    {
        if (node.OlderRetained is null)
        {
            Oldest = node.NewerRetained;
        }
        else
        {
            node.OlderRetained.NewerRetained = node.NewerRetained;
        }

        if (node.NewerRetained is null)
        {
            _newest = node.OlderRetained;
        }
        else
        {
            node.NewerRetained.OlderRetained = node.OlderRetained;
        }

        node.OlderRetained = null;
        node.NewerRetained = null;
        Count--;
    }

    public void MoveToNewest(PriorityTreeNode node)
    {
        if (node != _newest)
        {
            Remove(node);
            AddNewest(node);
        }
    }
}
