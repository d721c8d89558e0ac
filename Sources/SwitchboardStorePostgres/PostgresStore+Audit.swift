import SwitchboardCore
import SwitchboardStore

/// The hash-chained audit trail is AuditTrailSQL (through SharedSQLStore); this appends inside a transaction
/// this store already holds. Appends lock the head row, so the chain stays linear whichever host appends.
extension PostgresStore {
    static func appendAudit(actor: String, action: String, target: String, detail: String, now: Millis, db: PGSession) throws {
        try AuditTrailSQL.append(actor: actor, action: action, target: target, detail: detail, now: now, in: db)
    }
}
