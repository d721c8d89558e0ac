import SwitchboardCore
import Synchronization

/// The leases of an embedded store, held in memory instead of in the work rows.
///
/// One process owns an SQLite store (`Runtime.start` requeues whatever an earlier
/// process left leased), so a lease only has to be seen by this process. Keeping it
/// here makes a claim a read: the writer updates no row and no index for it, which
/// was three b-tree writes per event. A process that dies takes its leases with it
/// and the items are still `pending` in the file, so nothing is lost or doubled.
final class InProcessLeases: Sendable {
    struct Lease {
        var until: Millis
        var claimedAt: Millis
        var tenant: String
    }

    private let held = Mutex<[Int64: Lease]>([:])

    /// How many leases are still running at `now` (a claim skips that many due items at most).
    func activeCount(now: Millis) -> Int {
        held.withLock { $0.values.count { $0.until > now } }
    }

    /// Leases the first `limit` of `due` that no running lease holds; returns their ids in `due`'s order.
    func take(_ due: [(id: Int64, tenant: String)], limit: Int, now: Millis, leaseMillis: Millis) -> [Int64] {
        held.withLock { held in
            var taken: [Int64] = []
            for item in due where taken.count < limit {
                if let lease = held[item.id], lease.until > now { continue }
                held[item.id] = Lease(until: now + leaseMillis, claimedAt: now, tenant: item.tenant)
                taken.append(item.id)
            }
            return taken
        }
    }

    /// When each of these items was claimed (the attempt's time, written when it finishes).
    func claimedAt(_ ids: [Int64]) -> [Int64: Millis] {
        held.withLock { held in
            var found: [Int64: Millis] = [:]
            for id in ids { if let lease = held[id] { found[id] = lease.claimedAt } }
            return found
        }
    }

    /// Ends these leases: the items were finished, or their claim or finish did not commit (they run again).
    func release(_ ids: some Sequence<Int64>) {
        held.withLock { held in for id in ids { held.removeValue(forKey: id) } }
    }

    /// The items leased by this process, of one tenant or all. As with a lease in a row, an expired one
    /// counts until its item finishes or is claimed again.
    func running(tenant: String?) -> Set<Int64> {
        held.withLock { held in
            Set(held.compactMap { id, lease in tenant == nil || lease.tenant == tenant ? id : nil })
        }
    }
}
