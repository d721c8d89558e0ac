import SwitchboardCore
import SwitchboardStore

/// The hash-chained audit trail (AuditTrailSQL, shared with the SQLite store). Appends lock the head
/// row, so the chain stays linear whichever host appends.
extension PostgresStore {
    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try pool.transaction { db in try Self.appendAudit(actor: actor, action: action, target: target, detail: detail, now: now, db: db) }
    }

    /// Appends inside the caller's transaction.
    static func appendAudit(actor: String, action: String, target: String, detail: String, now: Millis, db: PGSession) throws {
        try AuditTrailSQL.append(actor: actor, action: action, target: target, detail: detail, now: now, in: db)
    }

    public func auditEntries(limit: Int) throws -> [AuditEntry] {
        try pool.with { db in try AuditTrailSQL.entries(limit: limit, in: db) }
    }

    public func verifyAudit() throws -> AuditVerification {
        try pool.with { db in try AuditTrailSQL.verify(in: db) }
    }
}
