import SwitchboardCore

/// The audit trail, written once for both stores: append-only and hash-chained. Each row's hash
/// covers its content and the previous row's hash; a head row records the last sequence number and
/// hash, so editing, inserting or deleting any row (the last one included) breaks verification.
/// Appends lock the head row (PostgreSQL), so the chain stays linear whichever host appends.
public enum AuditTrailSQL {
    public static func append(actor: String, action: String, target: String, detail rawDetail: String, now: Millis,
                              in db: any SQLSession) throws {
        let detail = Redactor.redact(rawDetail)
        var head = try db.rows("SELECT seq, hash FROM audit_head WHERE id = 1\(db.dialect.lockRows)", []) { (try $0.int(0), try $0.text(1)) }.first
        if head == nil {
            // No head: a trail never appended to starts at genesis; one with rows lost its head, and must not restart.
            let rows = try db.rows("SELECT COUNT(*) FROM audit", []) { try $0.int(0) }.first ?? 0
            guard rows == 0 else {
                throw StoreError("the audit head row is missing: the trail cannot be appended to (run switchboard audit verify)")
            }
            head = (0, "genesis")
        }
        let (last, prev) = head!
        let seq = last + 1
        let hash = StoreShared.auditHash(seq: seq, at: now, actor: actor, action: action, target: target, detail: detail, prev: prev)
        try db.execute("INSERT INTO audit (seq, at, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [.int(seq), .int(now), .text(actor), .text(action), .text(target), .text(detail), .text(prev), .text(hash)])
        try db.execute("""
            INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
            """, [.int(seq), .text(hash)])
    }

    public static func entries(limit: Int, in db: any SQLSession) throws -> [AuditEntry] {
        try db.rows("SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?", [.int(Int64(limit))]) { r in
            AuditEntry(seq: try r.int(0), at: try r.int(1), actor: try r.text(2), action: try r.text(3), target: try r.text(4), detail: try r.text(5))
        }.reversed()
    }

    public static func verify(in db: any SQLSession) throws -> AuditVerification {
        let rows = try db.rows("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq", []) { r in
            StoreShared.AuditRow(seq: try r.int(0), at: try r.int(1), actor: try r.text(2), action: try r.text(3), target: try r.text(4),
                                 detail: try r.text(5), prevHash: try r.text(6), hash: try r.text(7))
        }
        let head = try db.rows("SELECT seq, hash FROM audit_head WHERE id = 1", []) { (try $0.int(0), try $0.text(1)) }.first
        let checkpoint = try db.rows("SELECT seq, hash FROM audit_checkpoint WHERE id = 1", []) { (try $0.int(0), try $0.text(1)) }.first
        return StoreShared.verifyAudit(rows, head: head, checkpoint: checkpoint)
    }
}
