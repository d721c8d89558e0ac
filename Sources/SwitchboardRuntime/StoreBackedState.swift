import Foundation
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore
import SwitchboardVault

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
