import SwitchboardCore
import SwitchboardStore

/// The idempotency ledger as one batch of work sees it: the keys its declared
/// write steps will use are read in one query before the batch runs (one round
/// trip per batch instead of one per write: on a networked store that was most
/// of a write's cost), and writes made earlier in the same batch are seen by
/// later items (two events of one record in one batch write once).
final class BatchLedger {
    private let store: any IntegrationStore
    private var known: [String: String]
    private var prefetched: Set<String>

    init(store: any IntegrationStore, prefetch keys: [String] = []) {
        self.store = store
        do {
            prefetched = Set(keys)
            known = try store.ledger(keys: Array(prefetched))
        } catch {
            // The store did not answer: every write asks for its own key (and fails there if the store is still down).
            prefetched = []
            known = [:]
        }
    }

    /// The external id already written under `key`, if any.
    func externalID(for key: String) -> String? {
        if let id = known[key] { return id }
        if prefetched.contains(key) { return nil }
        return (try? store.ledger(keys: [key]))?[key]
    }

    /// A write this batch made (committed with the batch's outcomes).
    func record(_ key: String, externalID: String) {
        known[key] = externalID
    }

    /// The idempotency key of one write: the business event, not its delivery, plus the step that writes.
    static func key(tenant: String, step: String, event: StoredEvent) -> String {
        Hashing.hex("\(tenant)|\(step)|\(event.type)|\(event.source)|\(event.externalID)")
    }
}
