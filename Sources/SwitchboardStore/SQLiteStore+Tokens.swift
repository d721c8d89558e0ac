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

/// Tokens: TokensSQL, through SharedSQLStore.
extension SQLiteStore: TokenStore {}
