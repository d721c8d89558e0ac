import SwitchboardCore

extension SQLiteStore {
    static let exceptionColumns = """
        id, tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics, attempts, assignee,
        amount, currency, first_tried_at, last_tried_at, status, created_at, resolved_by, resolution
        """

    static func exceptionRow(_ r: Statement) -> ExceptionItem {
        ExceptionItem(id: r.int(0), tenant: r.text(1), workID: r.optionalInt(2), eventID: r.optionalInt(3), eventType: r.text(4),
                      externalID: r.text(5), workflow: r.optionalText(6), connection: r.optionalText(7), reason: r.text(8),
                      diagnostics: DiagnosticCoding.decode(r.text(9)), attempts: Int(r.int(10)), assignee: r.optionalText(11),
                      amount: r.optionalText(12), currency: r.optionalText(13), firstTriedAt: r.optionalInt(14),
                      lastTriedAt: r.optionalInt(15), status: r.text(16), createdAt: r.int(17), resolvedBy: r.optionalText(18),
                      resolution: r.optionalText(19))
    }

    public func exceptions(_ filter: ExceptionFilter) throws -> [ExceptionItem] {
        var clauses: [String] = []
        var values: [SQLValue] = []
        func add(_ column: String, _ value: String?) {
            guard let value else { return }
            clauses.append("\(column) = ?")
            values.append(.text(value))
        }
        add("tenant", filter.tenant)
        add("reason", filter.reason)
        add("status", filter.status)
        add("workflow", filter.workflow)
        add("connection", filter.connection)
        add("assignee", filter.assignee)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        values.append(.int(Int64(filter.limit)))
        return try read { db in
            try db.query("SELECT \(Self.exceptionColumns) FROM exceptions \(whereClause) ORDER BY id LIMIT ?", values, Self.exceptionRow)
        }
    }

    public func exception(id: Int64) throws -> ExceptionItem? {
        try read { db in try db.query("SELECT \(Self.exceptionColumns) FROM exceptions WHERE id = ?", [.int(id)], Self.exceptionRow).first }
    }

    public func openExceptionCount(tenant: String) throws -> Int {
        try read { db in
            Int(try db.query("SELECT COUNT(*) FROM exceptions WHERE status = 'open' AND tenant = ?", [.text(tenant)]) { $0.int(0) }.first ?? 0)
        }
    }

    static func loadOpen(_ id: Int64, db: SQLiteConnection) throws -> ExceptionItem {
        guard let item = try db.query("SELECT \(exceptionColumns) FROM exceptions WHERE id = ?", [.int(id)], exceptionRow).first else {
            throw StoreError("no exception item \(id)")
        }
        guard item.status == "open" else { throw StoreError("exception item \(id) is already \(item.status)") }
        return item
    }

    public func retryExceptions(ids: [Int64], actor: String, reason: String, now: Millis) throws -> [ExceptionItem] {
        try writer.write { db in
            var retried: [ExceptionItem] = []
            for id in ids {
                let item = try Self.loadOpen(id, db: db)
                try db.run("UPDATE exceptions SET status = 'retried', resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                           .int(now), .text(actor), .text(reason), .int(id))
                if let work = item.workID {
                    // Back to the queue with a fresh attempt budget; the idempotency ledger keeps finished writes from repeating.
                    try db.run("""
                        UPDATE work SET status = 'pending', attempts = 0, next_attempt_at = ?, first_tried_at = NULL, finished_at = NULL
                        WHERE id = ?
                        """, .int(now), .int(work))
                }
                try Self.appendAudit(actor: actor, action: "exception.retry", target: "exception/\(id)", detail: reason, now: now, db: db)
                retried.append(item.resolved("retried", by: actor, reason: reason))
            }
            return retried
        }
    }

    public func closeException(id: Int64, status: String, action: String, actor: String, reason: String, now: Millis) throws -> ExceptionItem {
        try writer.write { db in
            let item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                       .text(status), .int(now), .text(actor), .text(reason), .int(id))
            try Self.appendAudit(actor: actor, action: action, target: "exception/\(id)", detail: reason, now: now, db: db)
            return item.resolved(status, by: actor, reason: reason)
        }
    }

    public func supersedeExceptions(by done: [DoneWork], now: Millis) throws -> [Int64] {
        guard !done.isEmpty else { return [] }
        return try writer.write { db in
            var resolved: [Int64] = []
            for work in done {
                let ids = try db.query("""
                    UPDATE exceptions SET status = 'superseded', resolved_at = ?, resolved_by = 'switchboard', resolution = ?
                    WHERE id IN (
                        -- From the open items (exceptions_open), never a scan of the event log.
                        SELECT x.id FROM exceptions x JOIN events older ON older.id = x.event_id JOIN events newer ON newer.id = ?
                        WHERE x.status = 'open' AND x.tenant = ? AND x.work_id IS NOT NULL AND x.workflow = ? AND x.event_id < newer.id
                            AND x.event_type = newer.type AND x.external_id = newer.external_id AND older.source = newer.source)
                    RETURNING id
                    """, [.int(now), .text(work.resolution), .int(work.eventID), .text(work.tenant), .text(work.workflow)]) {
                    $0.int(0)
                }
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
        try writer.write { db in
            let item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET status = 'discarded', resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                       .int(now), .text(actor), .text(reason), .int(id))
            if let work = item.workID { try db.run("UPDATE work SET status = 'discarded' WHERE id = ?", .int(work)) }
            try Self.appendAudit(actor: actor, action: "exception.discard", target: "exception/\(id)", detail: reason, now: now, db: db)
            return item.resolved("discarded", by: actor, reason: reason)
        }
    }

    public func assignException(id: Int64, to assignee: String, actor: String, now: Millis) throws -> ExceptionItem {
        try writer.write { db in
            var item = try Self.loadOpen(id, db: db)
            try db.run("UPDATE exceptions SET assignee = ? WHERE id = ?", .text(assignee), .int(id))
            try Self.appendAudit(actor: actor, action: "exception.assign", target: "exception/\(id)", detail: "to \(assignee)", now: now, db: db)
            item.assignee = assignee
            return item
        }
    }

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
