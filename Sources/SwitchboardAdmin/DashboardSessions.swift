import Foundation
import Hummingbird
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// The dashboard's sign-ins, kept on the server: the cookie carries a random session id, never the
/// API token (a cookie leaked from a browser or a proxy log must not be a credential for the API).
/// A session holds the token's hash, so revoking the token ends its sessions at the next request.
/// Sessions live in this host's memory: behind several hosts, a balancer must keep a browser on
/// one host (sticky sessions), and a restart signs everyone out.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        var tokenHash: String
        var lastSeen: Millis
    }

    /// Idle time after which a session ends.
    static let idleMillis: Millis = 8 * 3_600_000
    /// At most this many live sessions; the least recently used goes first past it.
    static let capacity = 10_000

    private let sessions = Mutex<[String: Session]>([:])

    /// A new session for a token already verified; returns its id (256 random bits, URL-safe).
    func open(tokenHash: String, now: Millis = Clock.nowMillis()) -> String {
        var random = SystemRandomNumberGenerator()
        let id = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        sessions.withLock { table in
            table = table.filter { now - $0.value.lastSeen < Self.idleMillis }
            if table.count >= Self.capacity, let oldest = table.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
                table.removeValue(forKey: oldest)
            }
            table[id] = Session(tokenHash: tokenHash, lastSeen: now)
        }
        return id
    }

    /// The token hash of a live session (and its idle clock restarted), or nil.
    func tokenHash(session id: String, now: Millis = Clock.nowMillis()) -> String? {
        sessions.withLock { table in
            guard var session = table[id] else { return nil }
            guard now - session.lastSeen < Self.idleMillis else {
                table.removeValue(forKey: id)
                return nil
            }
            session.lastSeen = now
            table[id] = session
            return session.tokenHash
        }
    }

    func close(session id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// The name of the cookie that carries a session's id.
    static let cookie = "sb_session"

    /// The session id a request's cookie carries, if any.
    static func id(in request: Request) -> String? {
        let cookies = (request.headers[.cookie] ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        return cookies.first(where: { $0.hasPrefix(cookie + "=") }).map { String($0.dropFirst(cookie.count + 1)) }
    }
}
