import SwitchboardCore

/// One admin API token as stored: never the token itself, only its SHA-256.
public struct APITokenRow: Sendable, Equatable {
    public var name: String
    public var hash: String
    /// The first characters of the token, so an operator can tell tokens apart.
    public var prefix: String
    public var role: String
    /// nil: the partner (every tenant).
    public var tenant: String?
    public var createdAt: Millis
    public var revokedAt: Millis?

    public init(name: String, hash: String, prefix: String, role: String, tenant: String?, createdAt: Millis, revokedAt: Millis? = nil) {
        self.name = name
        self.hash = hash
        self.prefix = prefix
        self.role = role
        self.tenant = tenant
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Admin API tokens (docs/ADMIN-API.md). Creation and revocation are audited.
public protocol TokenStore: Sendable {
    func createToken(_ token: APITokenRow, actor: String) throws
    func token(hash: String) throws -> APITokenRow?
    func tokens() throws -> [APITokenRow]
    func revokeToken(name: String, actor: String, now: Millis) throws -> Bool
}

extension SQLiteStore: TokenStore {
    public func createToken(_ token: APITokenRow, actor: String) throws {
        try writer.write { db in
            let existing = try db.query("SELECT 1 FROM api_tokens WHERE name = ?", [.text(token.name)]) { $0.int(0) }
            guard existing.isEmpty else { throw StoreError("a token named \"\(token.name)\" already exists (revoke it or pick another name)") }
            try db.run("INSERT INTO api_tokens (name, hash, prefix, role, tenant, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       .text(token.name), .text(token.hash), .text(token.prefix), .text(token.role),
                       token.tenant.map { .text($0) } ?? .null, .int(token.createdAt))
            try Self.appendAudit(actor: actor, action: "token.create", target: token.name,
                                 detail: "role \(token.role), scope \(token.tenant ?? "partner")", now: token.createdAt, db: db)
        }
    }

    public func token(hash: String) throws -> APITokenRow? {
        try read { db in
            try db.query("SELECT name, hash, prefix, role, tenant, created_at, revoked_at FROM api_tokens WHERE hash = ?", [.text(hash)]) {
                Self.tokenRow($0)
            }.first
        }
    }

    public func tokens() throws -> [APITokenRow] {
        try read { db in
            try db.query("SELECT name, hash, prefix, role, tenant, created_at, revoked_at FROM api_tokens ORDER BY name", []) { Self.tokenRow($0) }
        }
    }

    public func revokeToken(name: String, actor: String, now: Millis) throws -> Bool {
        try writer.write { db in
            let changed = try db.run("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", .int(now), .text(name))
            if changed > 0 { try Self.appendAudit(actor: actor, action: "token.revoke", target: name, detail: "", now: now, db: db) }
            return changed > 0
        }
    }

    private static func tokenRow(_ row: Statement) -> APITokenRow {
        APITokenRow(name: row.text(0), hash: row.text(1), prefix: row.text(2), role: row.text(3), tenant: row.isNull(4) ? nil : row.text(4),
                    createdAt: row.int(5), revokedAt: row.isNull(6) ? nil : row.int(6))
    }
}
