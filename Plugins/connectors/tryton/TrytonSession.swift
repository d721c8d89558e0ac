// Tryton's JSON-RPC over host egress, with the session login the connector
// owns: `common.db.login` with the password from the vault, then
// `Authorization: Session base64(user:id:token)` and the user's preferences as
// the context of every model call. A 401 means the session expired (the server
// restarted, or it timed out): log in again once, then report AUTH.
import Foundation
import SwitchboardPluginKit

final class TrytonSession {
    let url: String
    let database: String
    let user: String
    private var session: String?
    private(set) var context: [String: Any] = [:]
    private var sequence = 0

    init(url: String, database: String, user: String) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.database = database
        self.user = user
    }

    /// Forgets the session (the next call logs in again).
    func reset() { session = nil }

    /// Calls `model.MODEL.METHOD` with the user's context appended.
    /// `extra` adds to (or overrides) the context for this call only, e.g. `["date": ...]` for a rate on a date.
    func model(_ name: String, _ method: String, _ arguments: [Any], context extra: [String: Any] = [:], host: HostCall) throws -> Any {
        try call("model.\(name).\(method)", arguments, withContext: true, extra: extra, host: host)
    }

    func call(_ method: String, _ arguments: [Any], withContext: Bool, extra: [String: Any] = [:], host: HostCall) throws -> Any {
        try ensureLogin(host: host)
        let params = { withContext ? arguments + [self.context.merging(extra) { $1 }] : arguments }
        do {
            return try rpc(method, params(), host: host)
        } catch is SessionExpired {
            session = nil
            try ensureLogin(host: host)
            do {
                return try rpc(method, params(), host: host)
            } catch is SessionExpired {
                throw PluginError.auth("Tryton rejected a fresh session for user \(user)")
            }
        }
    }

    private struct SessionExpired: Error {}

    private func ensureLogin(host: HostCall) throws {
        guard session == nil else { return }
        let password = String(decoding: try host.secret("password"), as: UTF8.self)
        guard !password.isEmpty else { throw PluginError.config("the Tryton password is empty", fieldPath: "secrets.password") }
        let reply: Any
        do {
            reply = try rpc("common.db.login", [user, ["password": password], "en"], host: host, authenticated: false)
        } catch is SessionExpired {
            throw PluginError.auth("Tryton refused the login of user \(user) on database \(database)")
        }
        guard let parts = reply as? [Any], parts.count >= 2, let id = parts[0] as? Int, let token = parts[1] as? String else {
            throw PluginError.auth("Tryton refused the login of user \(user) on database \(database)")
        }
        session = Data("\(user):\(id):\(token)".utf8).base64EncodedString()
        let preferences = try rpc("model.res.user.get_preferences", [true, [String: Any]()], host: host) as? [String: Any] ?? [:]
        // The context a desktop client sends: company, employee, language (not the display locale).
        context = preferences.filter { ["company", "companies", "employee", "employees", "language", "company_filter"].contains($0.key) }
        guard context["company"] is Int else {
            throw PluginError.config("user \(user) has no company in Tryton: run the company set-up first", fieldPath: "user")
        }
    }

    /// One JSON-RPC round trip, its errors classified for the host.
    private func rpc(_ method: String, _ params: [Any], host: HostCall, authenticated: Bool = true) throws -> Any {
        sequence += 1
        let body = try JSONSerialization.data(withJSONObject: ["id": sequence, "method": method, "params": params])
        var headers = [("Content-Type", "application/json")]
        if authenticated, let session { headers.append(("Authorization", "Session \(session)")) }
        let response = try host.http(method: "POST", url: "\(url)/\(database)/rpc/", headers: headers, body: Array(body))
        switch response.status {
        case 200: break
        case 401, 403: throw SessionExpired()
        case 429, 500...599: throw PluginError.retry("Tryton answered HTTP \(response.status) to \(method)")
        default: throw PluginError.fatal("Tryton answered HTTP \(response.status) to \(method)")
        }
        guard let reply = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw PluginError.retry("Tryton sent a reply to \(method) that is not JSON-RPC")
        }
        if let error = reply["error"] { throw Self.classify(error, method: method) }
        return reply["result"] ?? NSNull()
    }

    /// Tryton's `["ExceptionName", [message, description, ...]]`: business rules are permanent, contention is transient.
    static func classify(_ error: Any, method: String) -> PluginError {
        let parts = error as? [Any] ?? []
        let kind = parts.first as? String ?? "\(error)"
        let message = ((parts.dropFirst().first as? [Any])?.first as? String) ?? (parts.dropFirst().first as? String) ?? kind
        switch kind {
        case "ConcurrencyException", "DatabaseOperationalError", "TimeoutException", "RateLimitException":
            return PluginError.retry("Tryton: \(message) (\(method))")
        case "AccessError", "LoginException":
            return PluginError(.auth, "Tryton denied \(method): \(message)")
        default:
            return PluginError.fatal("Tryton: \(message)", detail: "\(kind) in \(method)")
        }
    }
}
