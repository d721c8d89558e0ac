import SwitchboardCore

/// The exception queue's state machine, written once for both stores (docs/STORE.md): an item is
/// `open` until a person retries, resolves or discards it, or a later success of the same record
/// supersedes it; each change is audited in the same transaction.
public enum ExceptionQueueSQL {
    static let columns = """
        id, tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics, CAST(attempts AS BIGINT), assignee,
        amount, currency, first_tried_at, last_tried_at, status, created_at, resolved_by, resolution
        """

    static func item(_ r: any SQLRow) throws -> ExceptionItem {
        ExceptionItem(id: try r.int(0), tenant: try r.text(1), workID: try r.optionalInt(2), eventID: try r.optionalInt(3),
                      eventType: try r.text(4), externalID: try r.text(5), workflow: try r.optionalText(6), connection: try r.optionalText(7),
                      reason: try r.text(8), diagnostics: DiagnosticCoding.decode(try r.text(9)), attempts: Int(try r.int(10)),
                      assignee: try r.optionalText(11), amount: try r.optionalText(12), currency: try r.optionalText(13),
                      firstTriedAt: try r.optionalInt(14), lastTriedAt: try r.optionalInt(15), status: try r.text(16),
                      createdAt: try r.int(17), resolvedBy: try r.optionalText(18), resolution: try r.optionalText(19))
    }

    public static func list(_ filter: ExceptionFilter, in db: any SQLSession) throws -> [ExceptionItem] {
        var clauses: [String] = []
        var arguments: [SQLArgument] = []
        for (column, value) in [("tenant", filter.tenant), ("reason", filter.reason), ("status", filter.status),
                                ("workflow", filter.workflow), ("connection", filter.connection), ("assignee", filter.assignee)] {
            guard let value else { continue }
            clauses.append("\(column) = ?")
            arguments.append(.text(value))
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try db.rows("SELECT \(columns) FROM exceptions \(whereClause) ORDER BY id LIMIT ?", arguments + [.int(Int64(filter.limit))], item)
    }

    public static func one(id: Int64, in db: any SQLSession) throws -> ExceptionItem? {
        try db.rows("SELECT \(columns) FROM exceptions WHERE id = ?", [.int(id)], item).first
    }

    public static func openCount(tenant: String, in db: any SQLSession) throws -> Int {
        Int(try db.rows("SELECT COUNT(*) FROM exceptions WHERE status = 'open' AND tenant = ?", [.text(tenant)]) { try $0.int(0) }.first ?? 0)
    }

    /// An open item, locked for the change (two operators acting on one item at once: the second sees it resolved).
    static func loadOpen(_ id: Int64, in db: any SQLSession) throws -> ExceptionItem {
        guard let found = try db.rows("SELECT \(columns) FROM exceptions WHERE id = ?\(db.dialect.lockRows)", [.int(id)], item).first else {
            throw StoreError("no exception item \(id)")
        }
        guard found.status == "open" else { throw StoreError("exception item \(id) is already \(found.status)") }
        return found
    }

    private static func resolve(_ id: Int64, status: String, actor: String, reason: String, now: Millis, in db: any SQLSession) throws {
        try db.execute("UPDATE exceptions SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                       [.text(status), .int(now), .text(actor), .text(reason), .int(id)])
    }

    public static func retry(ids: [Int64], actor: String, reason: String, now: Millis, in db: any SQLSession) throws -> [ExceptionItem] {
        var retried: [ExceptionItem] = []
        for id in ids {
            let item = try loadOpen(id, in: db)
            try resolve(id, status: "retried", actor: actor, reason: reason, now: now, in: db)
            if let work = item.workID {
                // Back to the queue with a fresh attempt budget; the idempotency ledger keeps finished writes from repeating.
                try db.execute("""
                    UPDATE work SET status = 'pending', attempts = 0, next_attempt_at = ?, first_tried_at = NULL, finished_at = NULL\
                    \(db.dialect.requeueAssignments) WHERE id = ?
                    """, [.int(now), .int(work)])
            }
            try AuditTrailSQL.append(actor: actor, action: "exception.retry", target: "exception/\(id)", detail: reason, now: now, in: db)
            retried.append(item.resolved("retried", by: actor, reason: reason))
        }
        return retried
    }

    public static func close(id: Int64, status: String, action: String, actor: String, reason: String, now: Millis,
                             in db: any SQLSession) throws -> ExceptionItem {
        let item = try loadOpen(id, in: db)
        try resolve(id, status: status, actor: actor, reason: reason, now: now, in: db)
        try AuditTrailSQL.append(actor: actor, action: action, target: "exception/\(id)", detail: reason, now: now, in: db)
        return item.resolved(status, by: actor, reason: reason)
    }

    public static func discard(id: Int64, actor: String, reason: String, now: Millis, in db: any SQLSession) throws -> ExceptionItem {
        let item = try loadOpen(id, in: db)
        try resolve(id, status: "discarded", actor: actor, reason: reason, now: now, in: db)
        if let work = item.workID { try db.execute("UPDATE work SET status = 'discarded' WHERE id = ?", [.int(work)]) }
        try AuditTrailSQL.append(actor: actor, action: "exception.discard", target: "exception/\(id)", detail: reason, now: now, in: db)
        return item.resolved("discarded", by: actor, reason: reason)
    }

    public static func assign(id: Int64, to assignee: String, actor: String, now: Millis, in db: any SQLSession) throws -> ExceptionItem {
        var item = try loadOpen(id, in: db)
        try db.execute("UPDATE exceptions SET assignee = ? WHERE id = ?", [.text(assignee), .int(id)])
        try AuditTrailSQL.append(actor: actor, action: "exception.assign", target: "exception/\(id)", detail: "to \(assignee)", now: now, in: db)
        item.assignee = assignee
        return item
    }

    /// Open items of the same record, workflow and source that a later event's success makes moot.
    public static func supersede(by done: [DoneWork], now: Millis, in db: any SQLSession) throws -> [Int64] {
        var resolved: [Int64] = []
        for work in done {
            let ids = try db.rows("""
                UPDATE exceptions SET status = 'superseded', resolved_at = ?, resolved_by = 'switchboard', resolution = ?
                WHERE id IN (
                    -- From the open items (exceptions_open), never a scan of the event log.
                    SELECT x.id FROM exceptions x JOIN events older ON older.id = x.event_id JOIN events newer ON newer.id = ?
                    WHERE x.status = 'open' AND x.tenant = ? AND x.work_id IS NOT NULL AND x.workflow = ? AND x.event_id < newer.id
                        AND x.event_type = newer.type AND x.external_id = newer.external_id AND older.source = newer.source)
                RETURNING id
                """, [.int(now), .text(work.resolution), .int(work.eventID), .text(work.tenant), .text(work.workflow)]) { try $0.int(0) }
            for id in ids {
                try AuditTrailSQL.append(actor: "switchboard", action: "exception.supersede", target: "exception/\(id)", detail: work.resolution,
                                         now: now, in: db)
            }
            resolved += ids
        }
        return resolved
    }
}
