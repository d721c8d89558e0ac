import SwitchboardCore
import Synchronization

/// The leases of an embedded store, held in memory instead of in the work rows,
/// and the per-key ordering its claims keep.
///
/// One process owns an SQLite store (`Runtime.start` requeues whatever an earlier
/// process left leased), so a lease only has to be seen by this process. Keeping it
/// here makes a claim a read: the writer updates no row and no index for it, which
/// was three b-tree writes per event. A process that dies takes its leases with it
/// and the items are still `pending` in the file, so nothing is lost or doubled.
///
/// **Ordering** (as on PostgreSQL): items with one ordering key (one record through
/// one workflow) run one at a time, oldest first. A claim skips an item while an older
/// item of its key is unfinished: leased, due before it, or waiting (to retry, or
/// parked). Fresh items become due in the order they were made, so only waiting items
/// can be overtaken; their keys are kept here (read from the file at the first claim,
/// then kept by `finished`) instead of in an index every write would have to update.
final class InProcessLeases: Sendable {
    /// An ordering key whose hash is computed once: a claim looks each key up in several maps, and hashing
    /// the whole text for each lookup was most of the leases' share of the store writer.
    struct Key: Hashable, Sendable {
        let text: String
        private let hash: Int

        init(_ text: String) {
            self.text = text
            hash = text.hashValue
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
        static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.text == b.text }
    }

    struct Lease {
        var until: Millis
        var claimedAt: Millis
        var tenant: String
        var key: Key
    }

    /// A due item as a claim sees it.
    struct Candidate {
        var id: Int64
        var tenant: String
        var key: Key
    }

    private struct State {
        var held: [Int64: Lease] = [:]
        /// The leased item of each ordering key (kept with `held`, so a claim does not rebuild it).
        var heldByKey: [Key: Int64] = [:]
        /// Items that ran and wait (to retry, or parked), by ordering key; nil until read from the file.
        var waiting: [Key: Set<Int64>]? = nil
        var waitingKey: [Int64: Key] = [:]

        mutating func wait(_ id: Int64, key: Key) {
            waiting?[key, default: []].insert(id)
            waitingKey[id] = key
        }

        mutating func stopWaiting(_ id: Int64) {
            guard let key = waitingKey.removeValue(forKey: id) else { return }
            waiting?[key]?.remove(id)
            if waiting?[key]?.isEmpty == true { waiting?[key] = nil }
        }
    }

    private let state = Mutex(State())

    /// How many leases are still running at `now` (a claim skips that many due items at most).
    func activeCount(now: Millis) -> Int {
        state.withLock { $0.held.values.count { $0.until > now } }
    }

    /// True once the waiting items' keys have been read from the file.
    var knowsWaiting: Bool { state.withLock { $0.waiting != nil } }

    /// The waiting items found in the file (the first claim reads them).
    func loadWaiting(_ items: [(id: Int64, key: Key)]) {
        state.withLock { state in
            guard state.waiting == nil else { return }
            state.waiting = [:]
            for item in items { state.wait(item.id, key: item.key) }
        }
    }

    /// The first `limit` of `due` that no running lease holds, in `due`'s order.
    func notRunning(_ due: [Int64], limit: Int, now: Millis) -> [Int64] {
        state.withLock { state in
            var out: [Int64] = []
            for id in due where out.count < limit {
                if let lease = state.held[id], lease.until > now { continue }
                out.append(id)
            }
            return out
        }
    }

    /// Leases the first `limit` of `due` that no running lease holds and no older item of their key
    /// holds back; returns their ids in `due`'s order.
    func take(_ due: [Candidate], limit: Int, now: Millis, leaseMillis: Millis) -> [Int64] {
        state.withLock { state in
            // The oldest unfinished item of each candidate's key this claim knows of: due or waiting.
            var oldest: [Key: Int64] = [:]
            oldest.reserveCapacity(due.count)
            let anyWaiting = state.waiting?.isEmpty == false
            for item in due {
                let waitingMin = anyWaiting ? state.waiting?[item.key]?.min() ?? item.id : item.id
                oldest[item.key, default: item.id] = min(oldest[item.key, default: item.id], item.id, waitingMin)
            }
            var taken: [Int64] = []
            for item in due where taken.count < limit {
                if let lease = state.held[item.id], lease.until > now { continue }
                // An older item of the key goes first, and one item of a key runs at a time.
                guard oldest[item.key] == item.id, (state.heldByKey[item.key] ?? item.id) == item.id else { continue }
                state.held[item.id] = Lease(until: now + leaseMillis, claimedAt: now, tenant: item.tenant, key: item.key)
                state.heldByKey[item.key] = item.id
                taken.append(item.id)
            }
            return taken
        }
    }

    /// When each of these items was claimed (the attempt's time, written when it finishes).
    func claimedAt(_ ids: [Int64]) -> [Int64: Millis] {
        state.withLock { state in
            var found: [Int64: Millis] = [:]
            for id in ids { if let lease = state.held[id] { found[id] = lease.claimedAt } }
            return found
        }
    }

    /// The outcomes of leased items committed: those that wait now hold their key back, the others no longer do.
    func finished(_ items: [(id: Int64, waits: Bool)]) {
        state.withLock { state in
            for item in items {
                if item.waits, let key = state.held[item.id]?.key { state.wait(item.id, key: key) } else { state.stopWaiting(item.id) }
            }
        }
    }

    /// Ends these leases: the items were finished, or their claim or finish did not commit (they run again).
    func release(_ ids: some Sequence<Int64>) {
        state.withLock { state in
            for id in ids {
                guard let lease = state.held.removeValue(forKey: id) else { continue }
                if state.heldByKey[lease.key] == id { state.heldByKey[lease.key] = nil }
            }
        }
    }

    /// The items leased by this process, of one tenant or all. As with a lease in a row, an expired one
    /// counts until its item finishes or is claimed again.
    func running(tenant: String?) -> Set<Int64> {
        state.withLock { state in
            Set(state.held.compactMap { id, lease in tenant == nil || lease.tenant == tenant ? id : nil })
        }
    }
}
