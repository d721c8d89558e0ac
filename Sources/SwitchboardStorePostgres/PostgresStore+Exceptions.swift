import SwitchboardCore
import SwitchboardStore
import PostgresNIO

/// The cold paths come from SharedSQLStore (the exception queue, the audit trail, tokens): this store says how to
/// read and how to write; `stats` stays here (its count deltas and held claims are this backend's own).
extension PostgresStore: SharedSQLStore {
    public func readingSQL<T>(_ body: (any SQLSession) throws -> T) throws -> T { try pool.with { try body($0) } }
    public func writingSQL<T>(_ body: @escaping (any SQLSession) throws -> T) throws -> T { try pool.transaction { try body($0) } }

    public func stats(tenant: String?) throws -> RuntimeStats {
        try pool.with { db in
            // Bounded reads (docs/STORE.md "Retention"): totals plus unfolded deltas, open items through their
            // index, latency from the latest completions only.
            let args: [PGValue] = [.optional(tenant)]
            var events = 0
            var byStatus: [String: Int] = [:]
            for row in try db.query("""
                SELECT name, SUM(n)::bigint FROM (SELECT tenant, name, n FROM tenant_counts
                    UNION ALL SELECT tenant, name, n FROM tenant_count_deltas) c
                WHERE $1::text IS NULL OR tenant = $1 GROUP BY name
                """, args) {
                let name = try row.text(0), count = Int(try row.int(1))
                if name == "events" { events = count } else if name.hasPrefix("work.") { byStatus[String(name.dropFirst(5))] = count }
            }
            // Held items are `pending` in their rows; the hold records of live sessions say which are running.
            let held = Int(try db.query("""
                SELECT COUNT(*) FROM work w WHERE w.status = 'pending' AND ($1::text IS NULL OR w.tenant = $1) AND w.id IN (
                    SELECT unnest(h.work_ids) FROM held_claims h WHERE \(Self.holderAlive))
                """, args)[0].int(0))
            byStatus["running", default: 0] += held
            byStatus["pending", default: 0] -= held
            let open = try db.query("""
                SELECT reason, amount, currency FROM exceptions WHERE status = 'open' AND ($1::text IS NULL OR tenant = $1)
                """, args).map { (reason: try $0.text(0), amount: try $0.optionalText(1), currency: try $0.optionalText(2)) }
            let tenants = try tenant.map { [$0] } ?? db.query("SELECT DISTINCT tenant FROM tenant_counts").map { try $0.text(0) }
            var recent: [(finished: Int64, latency: Int64)] = []
            for t in tenants {
                recent += try db.query("""
                    SELECT w.finished_at, w.finished_at - e.received_at FROM work w JOIN events e ON e.id = w.event_id
                    WHERE w.tenant = $1 AND w.status = 'done' ORDER BY w.finished_at DESC LIMIT $2
                    """, [.text(t), .int(Int64(StoreShared.recentLatencies))]).map { (try $0.int(0), try $0.int(1)) }
            }
            let latencies = recent.sorted { $0.finished > $1.finished }.prefix(StoreShared.recentLatencies).map(\.latency).sorted()
            return StoreShared.stats(events: events, byStatus: byStatus, openExceptions: open, latencies: latencies)
        }
    }
}
