import SwitchboardCore
import SwitchboardStore

/// The idempotency ledger as one batch of work sees it: the keys its declared
/// write steps will use are read in one query before the batch runs (one round
/// trip per batch instead of one per write: on a networked store that was most
/// of a write's cost), and writes made earlier in the same batch are seen by
/// later items (two events of one record in one batch write once).
final class BatchLedger {
    private let store: any IntegrationStore
    private var known: [String: LedgerWrite]
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

    /// What was already written under `key`, if anything.
    func written(_ key: String) -> LedgerWrite? {
        if let write = known[key] { return write }
        if prefetched.contains(key) { return nil }
        return (try? store.ledger(keys: [key]))?[key]
    }

    /// A write this batch made (committed with the batch's outcomes).
    func record(_ key: String, _ write: LedgerWrite) {
        known[key] = write
    }

    /// The ledger key of one write: the business event, not its delivery, plus the step that writes.
    /// For a record change it names the record, whichever version: its row holds the record's id at
    /// the target, which later versions update. Kept readable (not hashed): keys of one workflow step
    /// and source sort together, so a batch's ledger rows land on a few adjacent index pages instead of
    /// one random page each (a hashed key made every commit rewrite most of the ledger index; see docs/STORE.md).
    static func key(tenant: String, step: String, event: StoredEvent) -> String {
        key(tenant: tenant, step: step, type: event.type, source: event.source, externalID: event.externalID)
    }

    static func key(tenant: String, step: String, type: String, source: String, externalID: String) -> String {
        "\(tenant)|\(step)|\(type)|\(source)|\(externalID)"
    }

    /// The idempotency key a target sees for a write: fixed-length and opaque (it travels in HTTP
    /// headers), and the same value earlier releases sent for the same write. An update of a record
    /// written before adds the version it writes: each version is one write for the target, and the
    /// write that creates the record keeps the one key a redelivery repeats.
    static func idempotencyKey(ledgerKey: String, updatingTo version: Substring? = nil) -> String {
        StoreShared.hashedLedgerKey(version.map { ledgerKey + "|" + $0 } ?? ledgerKey)
    }
}
