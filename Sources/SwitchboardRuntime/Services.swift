import Foundation
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Secrets of one connection, resolved from its references (`env:VARIABLE`).
/// The vault replaces this source; the scoping stays: a connection sees only its own names.
struct EnvironmentSecrets: SecretResolver {
    let references: [String: String]

    func secret(named name: String) throws -> [UInt8]? {
        guard let reference = references[name], reference.hasPrefix("env:") else { return nil }
        return ProcessInfo.processInfo.environment[String(reference.dropFirst(4))].map { Array($0.utf8) }
    }
}

/// A connection's private plugin state, kept durably in the store.
struct StoreBackedState: InstanceStateStore {
    let store: any IntegrationStore
    let tenant: String
    let connection: String

    func value(forKey key: String) throws -> [UInt8]? { try store.stateValue(tenant: tenant, connection: connection, key: key) }

    func setValue(_ value: [UInt8], forKey key: String) throws {
        try store.setStateValue(value, tenant: tenant, connection: connection, key: key, now: Clock.nowMillis())
    }
}

/// Monotonic milliseconds / nanoseconds for deadlines and latencies.
enum Monotonic {
    static func nanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
