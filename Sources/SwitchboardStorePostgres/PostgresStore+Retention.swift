import SwitchboardCore
import SwitchboardStore

/// Retention on PostgreSQL, the same rules as SQLiteStore+Retention (docs/STORE.md "Retention"): each
/// statement removes at most `limit` rows, oldest first through an index.
extension PostgresStore {
    public func prune(tenant: String, policy: RetentionPolicy, now: Millis, limit: Int) throws -> PruneReport {
        try pool.transaction { db in
            try Self.foldCounters(db)
            var report = PruneReport()
            let t = PGValue.text(tenant), n = PGValue.int(Int64(limit))
            if let keep = policy.stepTimings {
                report.stepTimings = try db.run("""
                    UPDATE work SET steps = NULL WHERE id IN (SELECT id FROM work
                        WHERE tenant = $1 AND status = 'done' AND finished_at < $2 AND steps IS NOT NULL ORDER BY finished_at LIMIT $3)
                    """, [t, .int(now - keep), n])
            }
            if let keep = policy.doneTransactions {
                report.doneTransactions = try db.run("""
                    DELETE FROM work WHERE id IN (SELECT id FROM work
                        WHERE tenant = $1 AND status = 'done' AND finished_at < $2 ORDER BY finished_at LIMIT $3)
                    """, [t, .int(now - keep), n])
                report.resolvedExceptions = try db.run("""
                    DELETE FROM exceptions WHERE id IN (SELECT id FROM exceptions
                        WHERE status <> 'open' AND tenant = $1 AND resolved_at < $2 LIMIT $3)
                    """, [t, .int(now - keep), n])
            }
            if let keep = policy.eventPayloads {
                let mark = "prune.payloads.\(tenant)"
                let from = try db.query("SELECT value FROM store_meta WHERE key = $1", [.text(mark)]).first.flatMap { Int64(try $0.text(0)) } ?? 0
                let cutoff = now - keep
                let rows = try db.query("""
                    SELECT id, received_at FROM events WHERE tenant = $1 AND received_at >= $2 AND received_at < $3
                        AND length(payload) > 0 AND id NOT IN (\(StoreShared.eventsInUse)) ORDER BY received_at LIMIT $4
                    """, [t, .int(from), .int(cutoff), n]).map { (try $0.int(0), try $0.int(1)) }
                if !rows.isEmpty {
                    report.eventPayloads = try db.run("""
                        UPDATE events SET payload = ''::bytea, meta = NULL WHERE id = ANY($1::bigint[]) AND length(payload) > 0
                        """, [.ints(rows.map(\.0))])
                }
                let next = rows.count == limit ? (rows.last?.1 ?? from) : cutoff
                try db.run("INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           [.text(mark), .text("\(max(from, next))")])
            }
            if let keep = policy.dedupeWindow {
                report.events = try db.run("""
                    DELETE FROM events WHERE id IN (SELECT id FROM events WHERE tenant = $1 AND received_at < $2
                        AND id NOT IN (SELECT event_id FROM work WHERE tenant = $1) AND id NOT IN (\(StoreShared.eventsInUse))
                        ORDER BY received_at LIMIT $3)
                    """, [t, .int(now - keep), n])
            }
            return report
        }
    }

    /// Moves the triggers' per-statement deltas into the totals. Concurrent folds are safe: a delta row is
    /// deleted (and so counted) by exactly one of them.
    static func foldCounters(_ db: PGSession) throws {
        try db.run("""
            WITH moved AS (DELETE FROM tenant_count_deltas RETURNING tenant, name, n)
            INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, name, SUM(n) FROM moved GROUP BY tenant, name
            ON CONFLICT (tenant, name) DO UPDATE SET n = tenant_counts.n + excluded.n
            """)
    }

    public func pruneAudit(before: Millis, actor: String, now: Millis, limit: Int) throws -> Int {
        try pool.transaction { db in
            // The head row's lock orders this against every append.
            _ = try db.query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
            let old = try db.query("SELECT seq, hash FROM audit WHERE at < $1 ORDER BY seq LIMIT $2", [.int(before), .int(Int64(limit))])
                .map { (try $0.int(0), try $0.text(1)) }
            guard let last = old.last else { return 0 }
            try db.run("DELETE FROM audit WHERE seq <= $1", [.int(last.0)])
            try db.run("""
                INSERT INTO audit_checkpoint (id, seq, hash, at) VALUES (1, $1, $2, $3)
                    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at
                """, [.int(last.0), .text(last.1), .int(now)])
            try Self.appendAudit(actor: actor, action: "audit.prune", target: "audit",
                                 detail: StoreShared.auditPruneDetail(removed: old.count, through: last.0, hash: last.1, before: before),
                                 now: now, db: db)
            return old.count
        }
    }
}
