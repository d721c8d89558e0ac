import SwitchboardCore
import SwitchboardStore

/// The hash-chained audit trail (docs/STORE.md). Appends lock the head row, so
/// the chain stays linear whichever host appends.
extension PostgresStore {
    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try pool.transaction { db in try Self.appendAudit(actor: actor, action: action, target: target, detail: detail, now: now, db: db) }
    }

    static func appendAudit(actor: String, action: String, target: String, detail rawDetail: String, now: Millis, db: PGSession) throws {
        let detail = Redactor.redact(rawDetail)
        guard let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE").first else {
            throw StoreError("the audit head row is missing: the trail cannot be appended to (run switchboard audit verify)")
        }
        let seq = try head.int(0) + 1
        let prev = try head.text(1)
        let hash = StoreShared.auditHash(seq: seq, at: now, actor: actor, action: action, target: target, detail: detail, prev: prev)
        try db.run("INSERT INTO audit (seq, at, actor, action, target, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                   [.int(seq), .int(now), .text(actor), .text(action), .text(target), .text(detail), .text(prev), .text(hash)])
        try db.run("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", [.int(seq), .text(hash)])
    }

    public func auditEntries(limit: Int) throws -> [AuditEntry] {
        try pool.with { db in
            try db.query("SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT $1", [.int(Int64(limit))]).map { r in
                AuditEntry(seq: try r.int(0), at: try r.int(1), actor: try r.text(2), action: try r.text(3), target: try r.text(4),
                           detail: try r.text(5))
            }.reversed()
        }
    }

    public func verifyAudit() throws -> AuditVerification {
        try pool.with { db in
            let rows = try db.query("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq").map { r in
                StoreShared.AuditRow(seq: try r.int(0), at: try r.int(1), actor: try r.text(2), action: try r.text(3), target: try r.text(4),
                                     detail: try r.text(5), prevHash: try r.text(6), hash: try r.text(7))
            }
            let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1").first.map { (try $0.int(0), try $0.text(1)) }
            let checkpoint = try db.query("SELECT seq, hash FROM audit_checkpoint WHERE id = 1").first.map { (try $0.int(0), try $0.text(1)) }
            return StoreShared.verifyAudit(rows, head: head, checkpoint: checkpoint)
        }
    }
}
