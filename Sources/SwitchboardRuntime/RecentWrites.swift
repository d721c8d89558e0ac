import SwitchboardCore
import SwitchboardStore

/// Master-data writes this process made whose xref is not committed yet. A
/// target can show our write back (a read, a webhook) before the worker's
/// outcome commits; the ingestor consults this so that reflection is still
/// recognised as an echo. Entries go once their outcome is durable.
final class RecentWrites: @unchecked Sendable {
    private let lock = Lock()
    private var entries: [String: XrefKey] = [:]

    static func key(_ tenant: String, _ entity: String, _ connection: String, _ externalID: String) -> String {
        "\(tenant)|\(entity)|\(connection)|\(externalID)"
    }

    func record(_ xref: XrefKey) {
        lock.withLock { entries[Self.key(xref.tenant, xref.entity, xref.connection, xref.externalID)] = xref }
    }

    func lookup(tenant: String, entity: String, connection: String, externalID: String) -> XrefKey? {
        lock.withLock { entries[Self.key(tenant, entity, connection, externalID)] }
    }

    /// Forgets entries whose xref is now in the store.
    func committed(_ xrefs: [XrefKey]) {
        guard !xrefs.isEmpty else { return }
        lock.withLock {
            for x in xrefs { entries.removeValue(forKey: Self.key(x.tenant, x.entity, x.connection, x.externalID)) }
        }
    }
}
