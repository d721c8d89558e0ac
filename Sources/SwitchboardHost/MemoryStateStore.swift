import Synchronization

/// Instance state kept in memory: the default until a connection is bound to the durable store.
public final class MemoryStateStore: InstanceStateStore {
    private let values = Mutex<[String: [UInt8]]>([:])

    public init() {}

    public func value(forKey key: String) throws -> [UInt8]? { values.withLock { $0[key] } }

    public func setValue(_ value: [UInt8], forKey key: String) throws { values.withLock { $0[key] = value } }
}
