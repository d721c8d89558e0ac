import SwitchboardCore

/// The hash-chained audit trail is AuditTrailSQL (through SharedSQLStore); this appends inside a write
/// transaction this store already holds.
extension SQLiteStore {
    static func appendAudit(actor: String, action: String, target: String, detail: String, now: Millis, db: SQLiteConnection) throws {
        try AuditTrailSQL.append(actor: actor, action: action, target: target, detail: detail, now: now, in: db)
    }
}
