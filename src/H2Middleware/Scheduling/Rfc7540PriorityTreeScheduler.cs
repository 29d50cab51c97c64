using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// Schedules by the RFC 7540 §5.3 priority tree the client builds with PRIORITY frames and the priority fields of
/// HEADERS. A stream that can send goes before its descendants; among the subtrees below one node that have something
/// to send, turns are shared in proportion to weight (stride scheduling: each turn advances the chosen child's pass by
/// a stride inverse to its weight, and the lowest pass goes next), so no sibling starves. Idle and closed streams keep
/// their place as grouping nodes, up to a bound; past it the least recently named is removed and its children move to
/// its parent with its weight shared among them (§5.3.4).
/// </summary>
/// <remarks>
/// Turns are counted, not bytes: a stream whose turns are short (a small window, a slow handler) gets fewer bytes than
/// its weight says. Nothing recurses, so a hostile depth cannot overflow the stack: a turn or a change of readiness
/// costs O(depth × log siblings) at worst, moving n children (an exclusive dependency, an eviction) n times that, and
/// nothing allocates once the tree has reached its size. Needs the engine to call <see cref="OnStreamClosed"/>:
/// without it, nodes of finished streams are never released.
/// </remarks>
public sealed class Rfc7540PriorityTreeScheduler : IWriteScheduler
{
    /// <summary>Twice the default limit of 100 concurrent streams: room for a page's worth of finished streams and grouping nodes.</summary>
    public const int DefaultMaxRetainedNodes = 200;

    private const int MinWeight = 1;
    private const int MaxWeight = 256;

    /// <summary>§5.3.5: a stream depends on the root with weight 16 until told otherwise.</summary>
    private const int DefaultWeight = 16;

    /// <summary>A turn's stride is this over the weight: large enough that rounding skews shares by under 0.03%, small enough that passes do not overflow in 8 × 10^12 turns.</summary>
    private const long StrideScale = 1 << 20;

    private readonly PriorityTreeNode _root = new(0, DefaultWeight);
    private readonly Dictionary<int, PriorityTreeNode> _nodes = [];
    private readonly RetainedPriorityNodes _retained = new();
    private readonly int _maxRetainedNodes;
    private PriorityTreeNode? _evicted;
    private long _lastTicket;

    /// <param name="maxRetainedNodes">
    /// How many idle and closed streams keep their place in the tree; at least 100 and twice the connection's
    /// concurrent stream limit is a sensible choice. 0 keeps none: a closed stream's children move up at once.
    /// </param>
    public Rfc7540PriorityTreeScheduler(int maxRetainedNodes = DefaultMaxRetainedNodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedNodes);
        _maxRetainedNodes = maxRetainedNodes;
    }

    public bool UsesRfc7540Priorities => true;

    internal PriorityTreeNode Root => _root;

    /// <summary>Nodes other than the root: open streams plus retained idle and closed ones.</summary>
    internal int NodeCount => _nodes.Count;

    internal int RetainedCount => _retained.Count;

    internal PriorityTreeNode? OldestRetained => _retained.Oldest;

    internal PriorityTreeNode? FindNode(int streamId) => _nodes.GetValueOrDefault(streamId);

    public void OnStreamOpened(IScheduledStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Attach(stream);
    }

    public void OnRfc7540Priority(int streamId, int dependsOn, int weight, bool exclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(streamId);
        ArgumentOutOfRangeException.ThrowIfNegative(dependsOn);
        ArgumentOutOfRangeException.ThrowIfEqual(dependsOn, streamId);
        ArgumentOutOfRangeException.ThrowIfLessThan(weight, MinWeight);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weight, MaxWeight);

        PriorityTreeNode node = Name(streamId);
        PriorityTreeNode parent = _root;
        if (dependsOn != 0)
        {
            if (_nodes.ContainsKey(dependsOn))
            {
                parent = Name(dependsOn);
            }
            else
            {
                // §5.3.1: a dependency on a stream not in the tree gives the default priority.
                weight = DefaultWeight;
                exclusive = false;
            }
        }

        Reprioritize(node, parent, weight, exclusive);
        EvictPastBound();
    }

    public void OnStreamClosed(int streamId)
    {
        if (!_nodes.TryGetValue(streamId, out PriorityTreeNode? node) || node.Stream is null)
        {
            return;
        }

        SetReady(node, false);
        if (node.Stream.SchedulerState == node)
        {
            node.Stream.SchedulerState = null;
        }

        node.Stream = null;
        _retained.AddNewest(node);
        EvictPastBound();
    }

    public void Enqueue(IScheduledStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        SetReady(NodeOf(stream) ?? Attach(stream), true);
    }

    public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
    {
        // Walk down from the root: a node that can send is served before its descendants; otherwise the active child
        // that is due first is charged one turn at this level and the walk continues below it.
        PriorityTreeNode node = _root;
        while (!node.IsReady)
        {
            if (node.ActiveChildren.Count == 0)
            {
                stream = null;
                return false;
            }

            PriorityTreeNode next = node.ActiveChildren.First;
            node.VirtualTime = next.Pass;
            next.Pass += StrideScale / next.Weight;
            next.Ticket = ++_lastTicket;
            node.ActiveChildren.FirstDelayed();
            node = next;
        }

        stream = node.Stream!;
        SetReady(node, false);
        return true;
    }

    public void Remove(IScheduledStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (NodeOf(stream) is { } node)
        {
            SetReady(node, false);
        }
    }

    private static PriorityTreeNode? NodeOf(IScheduledStream stream) =>
        stream.SchedulerState is PriorityTreeNode node && node.Stream == stream ? node : null;

    private static bool IsBelow(PriorityTreeNode node, PriorityTreeNode ancestor)
    {
        for (PriorityTreeNode? above = node.Parent; above is not null; above = above.Parent)
        {
            if (above == ancestor)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Gives the stream its node: the one its id already has as an idle stream, or a new one with the default priority.</summary>
    private PriorityTreeNode Attach(IScheduledStream stream)
    {
        if (!_nodes.TryGetValue(stream.StreamId, out PriorityTreeNode? node))
        {
            node = AddNode(stream.StreamId);
        }
        else if (node.Stream is null)
        {
            _retained.Remove(node);
        }
        else if (node.Stream != stream)
        {
            SetReady(node, false);
        }

        node.Stream = stream;
        stream.SchedulerState = node;
        return node;
    }

    /// <summary>The node a PRIORITY frame names, made an idle node if the tree does not know it, and marked recently named.</summary>
    private PriorityTreeNode Name(int streamId)
    {
        if (!_nodes.TryGetValue(streamId, out PriorityTreeNode? node))
        {
            node = AddNode(streamId);
            _retained.AddNewest(node);
        }
        else if (node.Stream is null)
        {
            _retained.MoveToNewest(node);
        }

        return node;
    }

    private PriorityTreeNode AddNode(int streamId)
    {
        PriorityTreeNode node;
        if (_evicted is null)
        {
            node = new PriorityTreeNode(streamId, DefaultWeight);
        }
        else
        {
            node = _evicted;
            _evicted = null;
            node.Reuse(streamId, DefaultWeight);
        }

        _nodes.Add(streamId, node);
        _root.AddChild(node);
        return node;
    }

    /// <summary>§5.3.3: moves the node under its new parent, with its whole subtree.</summary>
    private void Reprioritize(PriorityTreeNode node, PriorityTreeNode parent, int weight, bool exclusive)
    {
        if (IsBelow(parent, node))
        {
            // A stream made dependent on its own descendant: the descendant first takes the stream's place, keeping its weight.
            Move(parent, node.Parent!);
        }

        if (node.Parent != parent)
        {
            Move(node, parent);
        }

        if (exclusive)
        {
            PriorityTreeNode? sibling = parent.FirstChild;
            while (sibling is not null)
            {
                PriorityTreeNode? next = sibling.NextSibling;
                if (sibling != node)
                {
                    Move(sibling, node);
                }

                sibling = next;
            }
        }

        node.Weight = weight;
    }

    /// <summary>Moves a node and its subtree under a parent that is not inside that subtree; it starts there at the parent's virtual time.</summary>
    private void Move(PriorityTreeNode node, PriorityTreeNode parent)
    {
        PriorityTreeNode oldParent = node.Parent!;
        if (node.HeapIndex >= 0)
        {
            oldParent.ActiveChildren.Remove(node);
            if (!oldParent.IsActive)
            {
                LeaveAncestors(oldParent);
            }
        }

        oldParent.RemoveChild(node);
        parent.AddChild(node);
        node.Pass = 0;
        if (node.IsActive)
        {
            JoinAncestors(node);
        }
    }

    private void SetReady(PriorityTreeNode node, bool ready)
    {
        if (node.IsReady == ready)
        {
            return;
        }

        bool wasActive = node.IsActive;
        node.IsReady = ready;
        if (ready && !wasActive)
        {
            JoinAncestors(node);
        }
        else if (!ready && !node.IsActive)
        {
            LeaveAncestors(node);
        }
    }

    /// <summary>The node just became active: it enters its parent's heap, and so on up while each parent was inactive.</summary>
    private void JoinAncestors(PriorityTreeNode node)
    {
        while (node.Parent is { } parent)
        {
            bool parentWasActive = parent.IsActive;
            node.Pass = Math.Max(node.Pass, parent.VirtualTime);
            node.Ticket = ++_lastTicket;
            parent.ActiveChildren.Add(node);
            if (parentWasActive)
            {
                return;
            }

            node = parent;
        }
    }

    /// <summary>The node just became inactive: it leaves its parent's heap, and so on up while each parent becomes inactive.</summary>
    private static void LeaveAncestors(PriorityTreeNode node)
    {
        while (node.Parent is { } parent)
        {
            parent.ActiveChildren.Remove(node);
            if (parent.IsActive)
            {
                return;
            }

            node = parent;
        }
    }

    private void EvictPastBound()
    {
        while (_retained.Count > _maxRetainedNodes)
        {
            Evict(_retained.Oldest!);
        }
    }

    /// <summary>§5.3.4: the node leaves the tree; its children move to its parent and share its weight in proportion to theirs.</summary>
    private void Evict(PriorityTreeNode node)
    {
        PriorityTreeNode parent = node.Parent!;
        long childWeights = 0;
        for (PriorityTreeNode? child = node.FirstChild; child is not null; child = child.NextSibling)
        {
            childWeights += child.Weight;
        }

        while (node.FirstChild is { } child)
        {
            int inherited = (int)Math.Max(MinWeight, (long)node.Weight * child.Weight / childWeights);
            Move(child, parent);
            child.Weight = inherited;
        }

        parent.RemoveChild(node);
        _nodes.Remove(node.StreamId);
        _retained.Remove(node);
        _evicted = node;
    }
}
