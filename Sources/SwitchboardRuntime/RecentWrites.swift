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

    /// Forgets entries whose xref is now in the store (these outcomes are committed). Only writes with content
    /// (master data) are recorded, so only those are looked for: a batch of transactional writes costs nothing here.
    func committed(_ outcomes: [WorkOutcome]) {
        lock.withLock {
            guard !entries.isEmpty else { return }
            for outcome in outcomes {
                for x in outcome.xref where x.content != nil {
                    entries.removeValue(forKey: Self.key(x.tenant, x.entity, x.connection, x.externalID))
                }
            }
        }
    }
}
