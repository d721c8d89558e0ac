import SwitchboardCore
import SwitchboardStore
import PostgresNIO

extension PostgresStore {
    static let exceptionColumns = """
        id, tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics, attempts::bigint, assignee,
        amount, currency, first_tried_at, last_tried_at, status, created_at, resolved_by, resolution
        """

    static func exceptionRow(_ r: PostgresRandomAccessRow) throws -> ExceptionItem {
        ExceptionItem(id: try r.int(0), tenant: try r.text(1), workID: try r.optionalInt(2), eventID: try r.optionalInt(3),
                      eventType: try r.text(4), externalID: try r.text(5), workflow: try r.optionalText(6), connection: try r.optionalText(7),
                      reason: try r.text(8), diagnostics: DiagnosticCoding.decode(try r.text(9)), attempts: Int(try r.int(10)),
                      assignee: try r.optionalText(11), amount: try r.optionalText(12), currency: try r.optionalText(13),
                      firstTriedAt: try r.optionalInt(14), lastTriedAt: try r.optionalInt(15), status: try r.text(16),
                      createdAt: try r.int(17), resolvedBy: try r.optionalText(18), resolution: try r.optionalText(19))
    }

    public func exceptions(_ filter: ExceptionFilter) throws -> [ExceptionItem] {
        var clauses: [String] = []
        var values: [PGValue] = []
        func add(_ column: String, _ value: String?) {
            guard let value else { return }
            values.append(.text(value))
            clauses.append("\(column) = $\(values.count)")
        }
        add("tenant", filter.tenant)
        add("reason", filter.reason)
        add("status", filter.status)
        add("workflow", filter.workflow)
        add("connection", filter.connection)
        add("assignee", filter.assignee)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        values.append(.int(Int64(filter.limit)))
        return try pool.with { db in
            try db.query("SELECT \(Self.exceptionColumns) FROM exceptions \(whereClause) ORDER BY id LIMIT $\(values.count)", values)
                .map(Self.exceptionRow)
        }
    }

    public func exception(id: Int64) throws -> ExceptionItem? {
        try pool.with { db in try db.query("SELECT \(Self.exceptionColumns) FROM exceptions WHERE id = $1", [.int(id)]).first.map(Self.exceptionRow) }
    }

    public func openExceptionCount(tenant: String) throws -> Int {
        try pool.with { db in
            Int(try db.query("SELECT COUNT(*) FROM exceptions WHERE status = 'open' AND tenant = $1", [.text(tenant)])[0].int(0))
        }
    }

    /// Locks an open item (two operators acting on one item at once: the second sees it resolved).
    static func loadOpen(_ id: Int64, db: PGSession) throws -> ExceptionItem {
        guard let item = try db.query("SELECT \(exceptionColumns) FROM exceptions WHERE id = $1 FOR UPDATE", [.int(id)]).first.map(exceptionRow) else {
            throw StoreError("no exception item \(id)")
        }
        guard item.status == "open" else { throw StoreError("exception item \(id) is already \(item.status)") }
        return item
    }

    public func retryExceptions(ids: [Int64], actor: String, reason: String, now: Millis) throws -> [ExceptionItem] {
        try pool.transaction { db in
            var retried: [ExceptionItem] = []
            for id in ids {
                let item = try Self.loadOpen(id, db: db)
                try db.run("UPDATE exceptions SET status = 'retried', resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4",
                           [.int(now), .text(actor), .text(reason), .int(id)])
                if let work = item.workID {
                    // Back to the queue with a fresh attempt budget; the idempotency ledger keeps finished writes from repeating.
                    try db.run("""
                        UPDATE work SET status = 'pending', attempts = 0, next_attempt_at = $1, first_tried_at = NULL, finished_at = NULL,
                            lease_owner = NULL WHERE id = $2
                        """, [.int(now), .int(work)])
                }
                try Self.appendAudit(actor: actor, action: "exception.retry", target: "exception/\(id)", detail: reason, now: now, db: db)
                retried.append(item.resolved("retried", by: actor, reason: reason))
            }
            return retried
        }
    }

    public func closeException(id: Int64, status: String, action: String, actor: String, reason: String, now: Millis) throws -> ExceptionItem {
        try pool.transaction { db in
            let item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET status = $1, resolved_at = $2, resolved_by = $3, resolution = $4 WHERE id = $5",
                       [.text(status), .int(now), .text(actor), .text(reason), .int(id)])
            try Self.appendAudit(actor: actor, action: action, target: "exception/\(id)", detail: reason, now: now, db: db)
            return item.resolved(status, by: actor, reason: reason)
        }
    }

    public func supersedeExceptions(by done: [DoneWork], now: Millis) throws -> [Int64] {
        guard !done.isEmpty else { return [] }
        return try pool.transaction { db in
            var resolved: [Int64] = []
            for work in done {
                let ids = try db.query("""
                    UPDATE exceptions SET status = 'superseded', resolved_at = $1, resolved_by = 'switchboard', resolution = $2
                    WHERE id IN (
                        -- From the open items (exceptions_open), never a scan of the event log.
                        SELECT x.id FROM exceptions x JOIN events older ON older.id = x.event_id JOIN events newer ON newer.id = $5
                        WHERE x.status = 'open' AND x.tenant = $3 AND x.work_id IS NOT NULL AND x.workflow = $4 AND x.event_id < newer.id
                            AND x.event_type = newer.type AND x.external_id = newer.external_id AND older.source = newer.source)
                    RETURNING id
                    """, [.int(now), .text(work.resolution), .text(work.tenant), .text(work.workflow), .int(work.eventID)]).map { try $0.int(0) }
                for id in ids {
                    try Self.appendAudit(actor: "switchboard", action: "exception.supersede", target: "exception/\(id)", detail: work.resolution,
                                         now: now, db: db)
                }
                resolved += ids
            }
            return resolved
        }
    }

    public func discardException(id: Int64, actor: String, reason: String, now: Millis) throws -> ExceptionItem {
        try pool.transaction { db in
            let item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET status = 'discarded', resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4",
                       [.int(now), .text(actor), .text(reason), .int(id)])
            if let work = item.workID { try db.run("UPDATE work SET status = 'discarded' WHERE id = $1", [.int(work)]) }
            try Self.appendAudit(actor: actor, action: "exception.discard", target: "exception/\(id)", detail: reason, now: now, db: db)
            return item.resolved("discarded", by: actor, reason: reason)
        }
    }

    public func assignException(id: Int64, to assignee: String, actor: String, now: Millis) throws -> ExceptionItem {
        try pool.transaction { db in
            var item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET assignee = $1 WHERE id = $2", [.text(assignee), .int(id)])
            try Self.appendAudit(actor: actor, action: "exception.assign", target: "exception/\(id)", detail: "to \(assignee)", now: now, db: db)
            item.assignee = assignee
            return item
        }
    }

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
