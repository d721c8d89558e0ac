import SwitchboardCore

/// The audit trail: append-only and hash-chained. Each row's hash covers its
/// content and the previous row's hash; a head row records the last sequence
/// number and hash, so editing, inserting or deleting any row (the last one
/// included) breaks verification.
extension SQLiteStore {
    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try writer.write { db in try Self.appendAudit(actor: actor, action: action, target: target, detail: detail, now: now, db: db) }
    }

    static func appendAudit(actor: String, action: String, target: String, detail rawDetail: String, now: Millis, db: SQLiteConnection) throws {
        let detail = Redactor.redact(rawDetail)
        let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1") { ($0.int(0), $0.text(1)) }.first ?? (0, "genesis")
        let seq = head.0 + 1
        let hash = StoreShared.auditHash(seq: seq, at: now, actor: actor, action: action, target: target, detail: detail, prev: head.1)
        try db.run("INSERT INTO audit (seq, at, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   .int(seq), .int(now), .text(actor), .text(action), .text(target), .text(detail), .text(head.1), .text(hash))
        try db.run("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                   .int(seq), .text(hash))
    }

    public func auditEntries(limit: Int) throws -> [AuditEntry] {
        try read { db in
            try db.query("SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?", [.int(Int64(limit))]) { r in
                AuditEntry(seq: r.int(0), at: r.int(1), actor: r.text(2), action: r.text(3), target: r.text(4), detail: r.text(5))
            }.reversed()
        }
    }

    public func verifyAudit() throws -> AuditVerification {
        try read { db in
            let rows = try db.query("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq") { r in
                StoreShared.AuditRow(seq: r.int(0), at: r.int(1), actor: r.text(2), action: r.text(3), target: r.text(4), detail: r.text(5),
                                     prevHash: r.text(6), hash: r.text(7))
            }
            let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1") { ($0.int(0), $0.text(1)) }.first
            let checkpoint = try db.query("SELECT seq, hash FROM audit_checkpoint WHERE id = 1") { ($0.int(0), $0.text(1)) }.first
            return StoreShared.verifyAudit(rows, head: head, checkpoint: checkpoint)
        }
    }
}
