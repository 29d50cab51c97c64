namespace H2Middleware.Scheduling;

/// <summary>
/// The active children of one tree node, earliest due first (lowest pass, then lowest ticket): a binary min-heap, so
/// picking a child and putting it back costs O(log siblings). Each node knows its index, so a child whose subtree stops
/// being able to send leaves from the middle just as cheaply. The array is kept and reused: no allocation per turn.
/// </summary>
internal struct ActiveChildHeap
{
    private PriorityTreeNode?[]? _nodes;

    public int Count { readonly get; private set; }

    public readonly PriorityTreeNode First => _nodes![0]!;

    public readonly PriorityTreeNode this[int index] => _nodes![index]!;

    public void Add(PriorityTreeNode node)
    {
        if (_nodes is null || Count == _nodes.Length)
        {
            Array.Resize(ref _nodes, Math.Max(4, Count * 2));
        }

        Place(node, Count++);
        SiftUp(node);
    }

    public void Remove(PriorityTreeNode node)
    {
        int index = node.HeapIndex;
        int last = --Count;
        PriorityTreeNode moved = _nodes![last]!;
        _nodes[last] = null;
        node.HeapIndex = -1;
        if (index != last)
        {
            Place(moved, index);
            SiftDown(moved);
            SiftUp(moved);
        }
    }

    /// <summary>The first node's pass grew (it was just served): let it sink to its new place.</summary>
    public readonly void FirstDelayed() => SiftDown(First);

    private static bool IsDueBefore(PriorityTreeNode a, PriorityTreeNode b) =>
        a.Pass < b.Pass || (a.Pass == b.Pass && a.Ticket < b.Ticket);

    private readonly void Place(PriorityTreeNode node, int index)
    {
        _nodes![index] = node;
        node.HeapIndex = index;
    }

    private readonly void SiftUp(PriorityTreeNode node)
    {
        int index = node.HeapIndex;
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            PriorityTreeNode above = _nodes![parent]!;
            if (!IsDueBefore(node, above))
            {
                break;
            }

            Place(above, index);
            index = parent;
        }

        Place(node, index);
    }

    private readonly void SiftDown(PriorityTreeNode node)
    {
        int index = node.HeapIndex;
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && IsDueBefore(_nodes![child + 1]!, _nodes[child]!))
            {
                child++;
            }

            PriorityTreeNode below = _nodes![child]!;
            if (!IsDueBefore(below, node))
            {
                break;
            }

            Place(below, index);
            index = child;
        }

        Place(node, index);
    }
}
