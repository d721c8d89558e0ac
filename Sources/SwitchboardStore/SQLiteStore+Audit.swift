import SwitchboardCore

/// The hash-chained audit trail (AuditTrailSQL, shared with the PostgreSQL store).
extension SQLiteStore {
    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try writer.write { db in try Self.appendAudit(actor: actor, action: action, target: target, detail: detail, now: now, db: db) }
    }

    /// Appends inside the caller's write transaction.
    static func appendAudit(actor: String, action: String, target: String, detail: String, now: Millis, db: SQLiteConnection) throws {
        try AuditTrailSQL.append(actor: actor, action: action, target: target, detail: detail, now: now, in: db)
    }

    public func auditEntries(limit: Int) throws -> [AuditEntry] {
        try read { db in try AuditTrailSQL.entries(limit: limit, in: db) }
    }

    public func verifyAudit() throws -> AuditVerification {
        try read { db in try AuditTrailSQL.verify(in: db) }
    }
}
