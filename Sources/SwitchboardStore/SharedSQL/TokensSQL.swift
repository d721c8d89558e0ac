import SwitchboardCore

/// Admin API tokens (docs/ADMIN-API.md), written once for both stores: only a token's SHA-256 is
/// stored; creation and revocation are audited in the same transaction.
public enum TokensSQL {
    static let columns = "name, hash, prefix, role, tenant, created_at, revoked_at"

    static func token(_ r: any SQLRow) throws -> APITokenRow {
        APITokenRow(name: try r.text(0), hash: try r.text(1), prefix: try r.text(2), role: try r.text(3), tenant: try r.optionalText(4),
                    createdAt: try r.int(5), revokedAt: try r.optionalInt(6))
    }

    public static func create(_ token: APITokenRow, actor: String, in db: any SQLSession) throws {
        let inserted = try db.execute("""
            INSERT INTO api_tokens (name, hash, prefix, role, tenant, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING
            """, [.text(token.name), .text(token.hash), .text(token.prefix), .text(token.role), .optional(token.tenant), .int(token.createdAt)])
        guard inserted == 1 else { throw StoreError("a token named \"\(token.name)\" already exists (revoke it or pick another name)") }
        try AuditTrailSQL.append(actor: actor, action: "token.create", target: token.name,
                                 detail: "role \(token.role), scope \(token.tenant ?? "partner")", now: token.createdAt, in: db)
    }

    public static func find(hash: String, in db: any SQLSession) throws -> APITokenRow? {
        try db.rows("SELECT \(columns) FROM api_tokens WHERE hash = ?", [.text(hash)], token).first
    }

    public static func all(in db: any SQLSession) throws -> [APITokenRow] {
        try db.rows("SELECT \(columns) FROM api_tokens ORDER BY name", [], token)
    }

    public static func revoke(name: String, actor: String, now: Millis, in db: any SQLSession) throws -> Bool {
        let changed = try db.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", [.int(now), .text(name)])
        if changed > 0 { try AuditTrailSQL.append(actor: actor, action: "token.revoke", target: name, detail: "", now: now, in: db) }
        return changed > 0
    }
}
