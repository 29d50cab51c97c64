namespace H2Middleware.Output;

/// <summary>What happened to a PUSH_PROMISE the write side owed the client, for the serve loop to act on.</summary>
internal interface IPushPromiseEvents
{
    /// <summary>The PUSH_PROMISE has been written: the promised request may run.</summary>
    void OnPromiseWritten(in PushPromise promise);

    /// <summary>The PUSH_PROMISE will never be written; the client never heard of the promised stream.</summary>
    void OnPromiseDropped(in PushPromise promise, string reason);
}
