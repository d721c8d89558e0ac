import SwitchboardCore

/// Retention on the embedded store (docs/STORE.md "Retention"). Every statement removes at most `limit` rows,
/// oldest first through an index, so a pass holds the writer for a bounded time whatever the store's size.
extension SQLiteStore {
    public func prune(tenant: String, policy: RetentionPolicy, now: Millis, limit: Int) throws -> PruneReport {
        try writer.write { db in
            var report = PruneReport()
            let t = SQLValue.text(tenant), n = SQLValue.int(Int64(limit))
            if let keep = policy.stepTimings {
                report.stepTimings = try db.run("""
                    UPDATE work SET steps = NULL WHERE id IN (SELECT id FROM work
                        WHERE tenant = ?1 AND status = 'done' AND finished_at < ?2 AND steps IS NOT NULL ORDER BY finished_at LIMIT ?3)
                    """, t, .int(now - keep), n)
            }
            if let keep = policy.doneTransactions {
                report.doneTransactions = try db.run("""
                    DELETE FROM work WHERE id IN (SELECT id FROM work
                        WHERE tenant = ?1 AND status = 'done' AND finished_at < ?2 ORDER BY finished_at LIMIT ?3)
                    """, t, .int(now - keep), n)
                report.resolvedExceptions = try db.run("""
                    DELETE FROM exceptions WHERE id IN (SELECT id FROM exceptions
                        WHERE status <> 'open' AND tenant = ?1 AND resolved_at < ?2 LIMIT ?3)
                    """, t, .int(now - keep), n)
            }
            if let keep = policy.eventPayloads {
                // Payloads already emptied are skipped by the watermark, so a pass does not rescan them.
                let mark = "prune.payloads.\(tenant)"
                let from = try db.query("SELECT value FROM store_meta WHERE key = ?", [.text(mark)]) { Int64($0.text(0)) ?? 0 }.first ?? 0
                let cutoff = now - keep
                let rows = try db.query("""
                    SELECT id, received_at FROM events WHERE tenant = ?1 AND received_at >= ?2 AND received_at < ?3
                        AND length(payload) > 0 AND \(Self.notInUse) ORDER BY received_at LIMIT ?4
                    """, [t, .int(from), .int(cutoff), n]) { ($0.int(0), $0.int(1)) }
                for (id, _) in rows {
                    report.eventPayloads += try db.run("UPDATE events SET payload = X'', meta = NULL WHERE id = ? AND length(payload) > 0", .int(id))
                }
                // A full batch may stop mid-millisecond: resume at its last time (re-emptying is a no-op).
                let next = rows.count == limit ? (rows.last?.1 ?? from) : cutoff
                try db.run("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           .text(mark), .text("\(max(from, next))"))
            }
            if let keep = policy.dedupeWindow {
                // Their work is finished and (the done window being shorter) gone: only the event rows are left.
                report.events = try db.run("""
                    DELETE FROM events WHERE id IN (SELECT id FROM events WHERE tenant = ?1 AND received_at < ?2
                        AND NOT EXISTS (SELECT 1 FROM work WHERE work.event_id = events.id) AND \(Self.notInUse)
                        ORDER BY received_at LIMIT ?3)
                    """, t, .int(now - keep), n)
            }
            return report
        }
    }

    /// StoreShared.eventsInUse, per event through `work_by_event` (the shared form builds the set of every
    /// unfinished item's event in each statement: a scan of the work table per batch).
    static let notInUse = """
        NOT EXISTS (SELECT 1 FROM work WHERE work.event_id = events.id AND work.status <> 'done')
            AND id NOT IN (SELECT event_id FROM exceptions WHERE status = 'open' AND event_id IS NOT NULL)
        """

    public func pruneAudit(before: Millis, actor: String, now: Millis, limit: Int) throws -> Int {
        try writer.write { db in
            let old = try db.query("SELECT seq, hash FROM audit WHERE at < ? ORDER BY seq LIMIT ?", [.int(before), .int(Int64(limit))]) {
                ($0.int(0), $0.text(1))
            }
            guard let last = old.last else { return 0 }
            try db.run("DELETE FROM audit WHERE seq <= ?", .int(last.0))
            try db.run("""
                INSERT INTO audit_checkpoint (id, seq, hash, at) VALUES (1, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at
                """, .int(last.0), .text(last.1), .int(now))
            try Self.appendAudit(actor: actor, action: "audit.prune", target: "audit",
                                 detail: StoreShared.auditPruneDetail(removed: old.count, through: last.0, hash: last.1, before: before),
                                 now: now, db: db)
            return old.count
        }
    }
}
