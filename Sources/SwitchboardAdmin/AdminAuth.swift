import Crypto
import Foundation
import SwitchboardCore
import SwitchboardStore

/// Roles, in increasing power (docs/ADMIN-API.md).
public enum AdminRole: String, Sendable, CaseIterable, Comparable {
    case viewer, `operator`, admin

    var rank: Int { AdminRole.allCases.firstIndex(of: self)! }
    public static func < (a: AdminRole, b: AdminRole) -> Bool { a.rank < b.rank }
}

/// Who is calling: a token's name, role and scope.
public struct Principal: Sendable {
    public var name: String
    public var role: AdminRole
    /// nil: the partner (every tenant).
    public var tenant: String?

    func sees(_ tenant: String) -> Bool { self.tenant == nil || self.tenant == tenant }
}

/// API tokens: 256 random bits, stored as SHA-256 only.
public enum AdminTokens {
    public static let prefix = "sbt_"

    /// A new token and the row to store (the token itself is shown once and never stored).
    public static func make(name: String, role: AdminRole, tenant: String?, now: Millis) -> (token: String, row: APITokenRow) {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let token = prefix + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return (token, APITokenRow(name: name, hash: hash(token), prefix: String(token.prefix(10)), role: role.rawValue, tenant: tenant,
                                   createdAt: now))
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The principal of an `Authorization: Bearer` header, or nil.
    static func principal(authorization: String?, store: any TokenStore) throws -> Principal? {
        guard let header = authorization, header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard token.hasPrefix(prefix), token.utf8.count < 200 else { return nil }
        return try principal(tokenHash: hash(token), store: store)
    }

    /// The principal of a stored token, by its hash; nil when unknown or revoked.
    static func principal(tokenHash: String, store: any TokenStore) throws -> Principal? {
        guard let row = try store.token(hash: tokenHash), row.revokedAt == nil, let role = AdminRole(rawValue: row.role) else { return nil }
        return Principal(name: row.name, role: role, tenant: row.tenant)
    }
}
