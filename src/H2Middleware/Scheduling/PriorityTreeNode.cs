namespace H2Middleware.Scheduling;

/// <summary>
/// One stream's place in the RFC 7540 priority tree: its parent and children, its weight, and the stride state that
/// shares its parent's turns among siblings. Idle and closed streams keep a node without a stream, so that later
/// dependencies on them still mean what the client meant.
/// </summary>
internal sealed class PriorityTreeNode
{
    /// <summary>The children whose subtrees have a stream ready to send. A field: the heap is a mutable struct.</summary>
    public ActiveChildHeap ActiveChildren;

    public PriorityTreeNode(int streamId, int weight)
    {
        StreamId = streamId;
        Weight = weight;
    }

    public int StreamId { get; private set; }

    /// <summary>1 to 256. An int, not a byte: 256 must not wrap to 0.</summary>
    public int Weight { get; set; }

    public PriorityTreeNode? Parent { get; private set; }

    public PriorityTreeNode? FirstChild { get; private set; }

    public PriorityTreeNode? NextSibling { get; private set; }

    public PriorityTreeNode? PreviousSibling { get; private set; }

    /// <summary>The open stream this node stands for; null while the stream is idle or closed.</summary>
    public IScheduledStream? Stream { get; set; }

    /// <summary>The stream is queued: the engine said it can send and has not taken it since.</summary>
    public bool IsReady { get; set; }

    /// <summary>Something in this subtree can send, so the node sits in its parent's <see cref="ActiveChildren"/>.</summary>
    public bool IsActive => IsReady || ActiveChildren.Count > 0;

    /// <summary>The parent's virtual time at which this node is next due; each turn adds a stride inverse to the weight.</summary>
    public long Pass { get; set; }

    /// <summary>Breaks ties between equal passes in the order nodes were queued, so equal weights alternate.</summary>
    public long Ticket { get; set; }

    /// <summary>Where this node sits in its parent's <see cref="ActiveChildren"/>, or -1.</summary>
    public int HeapIndex { get; set; } = -1;

    /// <summary>The pass of the child served last: a child that becomes active again starts no earlier, so idling earns no credit.</summary>
    public long VirtualTime { get; set; }

    /// <summary>Links in the scheduler's list of idle and closed nodes, oldest first.</summary>
    public PriorityTreeNode? OlderRetained { get; set; }

    public PriorityTreeNode? NewerRetained { get; set; }

    /// <summary>Makes an evicted node new again for another stream, keeping its heap's array.</summary>
    public void Reuse(int streamId, int weight)
    {
        StreamId = streamId;
        Weight = weight;
        Pass = 0;
        Ticket = 0;
        VirtualTime = 0;
    }

    public void AddChild(PriorityTreeNode child)
    {
        child.Parent = this;
        child.PreviousSibling = null;
        child.NextSibling = FirstChild;
        if (FirstChild is not null)
        {
            FirstChild.PreviousSibling = child;
        }

        FirstChild = child;
    }

    public void RemoveChild(PriorityTreeNode child)
    {
        if (child.PreviousSibling is null)
        {
            FirstChild = child.NextSibling;
        }
        else
        {
            child.PreviousSibling.NextSibling = child.NextSibling;
        }

        if (child.NextSibling is not null)
        {
            child.NextSibling.PreviousSibling = child.PreviousSibling;
        }

        child.Parent = null;
        child.NextSibling = null;
        child.PreviousSibling = null;
    }
}
