import SwitchboardCore

/// The audit trail: append-only and hash-chained. Each row's hash covers its
/// content and the previous row's hash; a head row records the last sequence
/// number and hash, so editing, inserting or deleting any row (the last one
/// included) breaks verification.
extension SQLiteStore {
    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try writer.write { db in try Self.appendAudit(actor: actor, action: action, target: target, detail: detail, now: now, db: db) }
    }

    static func chainHash(seq: Int64, at: Millis, actor: String, action: String, target: String, detail: String, prev: String) -> String {
        // Length-prefixed fields: no value can be crafted to shift into another.
        let fields = [String(seq), String(at), actor, action, target, detail, prev]
        return Hashing.hex(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|"))
    }

    static func appendAudit(actor: String, action: String, target: String, detail rawDetail: String, now: Millis, db: SQLiteConnection) throws {
        let detail = Redactor.redact(rawDetail)
        let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1") { ($0.int(0), $0.text(1)) }.first ?? (0, "genesis")
        let seq = head.0 + 1
        let hash = chainHash(seq: seq, at: now, actor: actor, action: action, target: target, detail: detail, prev: head.1)
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
            var problems: [String] = []
            var expectedSeq: Int64 = 1
            var prev = "genesis"
            var rows = 0
            let statement = try db.prepare("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit ORDER BY seq")
            defer { statement.reset() }
            while try statement.step() {
                rows += 1
                let seq = statement.int(0)
                if seq != expectedSeq { problems.append("row \(expectedSeq)\(seq > expectedSeq + 1 ? "-\(seq - 1)" : "") is missing (deleted)") }
                if statement.text(6) != prev { problems.append("row \(seq): previous-hash link broken (a row before it was deleted or edited)") }
                let computed = Self.chainHash(seq: seq, at: statement.int(1), actor: statement.text(2), action: statement.text(3),
                                         target: statement.text(4), detail: statement.text(5), prev: statement.text(6))
                if computed != statement.text(7) { problems.append("row \(seq): content does not match its hash (edited)") }
                prev = statement.text(7)
                expectedSeq = seq + 1
            }
            let head = try db.query("SELECT seq, hash FROM audit_head WHERE id = 1") { ($0.int(0), $0.text(1)) }.first
            if let head {
                if head.0 != expectedSeq - 1 || head.1 != prev {
                    problems.append("the trail ends at row \(expectedSeq - 1) but was written up to row \(head.0) (rows deleted at the end)")
                }
            } else if rows > 0 {
                problems.append("the audit head is missing")
            }
            return AuditVerification(rows: rows, problems: problems)
        }
    }
}
