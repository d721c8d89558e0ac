import SwitchboardCore

/// The cold paths come from SharedSQLStore (the exception queue, the audit trail, tokens): this store says how to
/// read and how to write; `stats` stays here (its counters and leases are this backend's own).
extension SQLiteStore: SharedSQLStore {
    public func readingSQL<T>(_ body: (any SQLSession) throws -> T) throws -> T { try read { try body($0) } }
    public func writingSQL<T>(_ body: @escaping (any SQLSession) throws -> T) throws -> T { try writer.write { try body($0) } }

    public func stats(tenant: String?) throws -> RuntimeStats {
        try read { db in
            // Every figure is a bounded read (docs/STORE.md "Retention"): totals from the trigger-kept counters,
            // open items through their index, latency from the latest completions only.
            let filter = tenant == nil ? "" : " WHERE tenant = ?"
            let args: [SQLValue] = tenant.map { [.text($0)] } ?? []
            var events = 0
            var byStatus: [String: Int] = [:]
            for (name, count) in try db.query("SELECT name, SUM(n) FROM tenant_counts\(filter) GROUP BY name", args, { ($0.text(0), Int($0.int(1))) }) {
                if name == "events" { events = count } else if name.hasPrefix("work.") { byStatus[String(name.dropFirst(5))] = count }
            }
            // Leased items are `pending` in the file; the leases say which of them are running.
            let running = leases.running(tenant: tenant).count
            byStatus["running", default: 0] += running
            byStatus["pending", default: 0] -= running
            let openFilter = tenant == nil ? " WHERE status = 'open'" : " WHERE status = 'open' AND tenant = ?"
            let open = try db.query("SELECT reason, amount, currency FROM exceptions" + openFilter, args) {
                (reason: $0.text(0), amount: $0.optionalText(1), currency: $0.optionalText(2))
            }
            let tenants = try tenant.map { [$0] } ?? db.query("SELECT DISTINCT tenant FROM tenant_counts") { $0.text(0) }
            var recent: [(finished: Int64, latency: Int64)] = []
            for t in tenants {
                recent += try db.query("""
                    SELECT w.finished_at, w.finished_at - e.received_at FROM work w JOIN events e ON e.id = w.event_id
                    WHERE w.tenant = ? AND w.status = 'done' ORDER BY w.finished_at DESC LIMIT ?
                    """, [.text(t), .int(Int64(StoreShared.recentLatencies))]) { ($0.int(0), $0.int(1)) }
            }
            let latencies = recent.sorted { $0.finished > $1.finished }.prefix(StoreShared.recentLatencies).map(\.latency).sorted()
            return StoreShared.stats(events: events, byStatus: byStatus, openExceptions: open, latencies: latencies)
        }
    }
}
