import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import SwitchboardAdmin
import SwitchboardCore
import SwitchboardPackages
import SwitchboardRuntime
import SwitchboardStore
import Testing

/// The admin server's authentication and authorisation middleware, in process (HummingbirdTesting's router
/// client: no binary, no port). AdminAPITests drives the real binary where that proves more (webhooks, the
/// browser, the whole RBAC matrix over live data); this pins the middleware's order and answers.
@Suite struct AdminRouterTests {
    static func runtime() throws -> (Runtime, [String: String]) {
        let dir = TestEnv.tempDir("sbrouter")
        // No plugins: no worker starts (a unit-tier test); the middleware answers before any connection matters.
        try FileManager.default.createDirectory(atPath: dir + "/plugins", withIntermediateDirectories: true)
        let config = try ConfigLoader.parse("""
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(dir)/plugins
            tenants:
              - { id: acme, name: Acme, connections: [] }
              - { id: globex, name: Globex, connections: [] }
            """, file: dir + "/switchboard.yaml")
        let runtime = try Runtime(config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        var tokens: [String: String] = [:]
        for (name, role, tenant) in [("partner", AdminRole.admin, nil), ("acme-viewer", .viewer, "acme")] as [(String, AdminRole, String?)] {
            let made = AdminTokens.make(name: name, role: role, tenant: tenant, now: 1)
            try #require(runtime.store as? any TokenStore).createToken(made.row, actor: "test")
            tokens[name] = made.token
        }
        return (runtime, tokens)
    }

    @Test func authenticationThenScopeThenRoleInThatOrder() async throws {
        let (runtime, tokens) = try Self.runtime()
        defer { runtime.registry.close() }
        let app = Application(router: AdminServer.router(runtime: runtime))
        try await app.test(.router) { client in
            func status(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, body: String? = nil) async throws -> (Int, String) {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = "Bearer \(token)" }
                if body != nil { headers[.contentType] = "application/json" }
                return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
            }
            let viewer = tokens["acme-viewer"]!, partner = tokens["partner"]!
            // No principal: 401 with the API's JSON error, before anything about the tenant is said.
            let anonymous = try await status(.get, "/api/v1/tenants/globex/stats")
            #expect(anonymous.0 == 401 && anonymous.1.contains(#""code":"unauthorized""#), "\(anonymous)")
            #expect(try await status(.get, "/api/v1/tenants/acme/stats", token: "sbt_not-a-real-token").0 == 401)
            // Out of scope looks exactly like unknown (404), even for a route whose role the token lacks.
            #expect(try await status(.get, "/api/v1/tenants/globex/stats", token: viewer).0 == 404)
            #expect(try await status(.post, "/api/v1/tenants/globex/connections/none/pause", token: viewer, body: #"{"reason":"x"}"#).0 == 404)
            #expect(try await status(.get, "/api/v1/tenants/nowhere/stats", token: partner).0 == 404)
            // In scope, role too low: 403 naming the role.
            let low = try await status(.post, "/api/v1/tenants/acme/connections/none/pause", token: viewer, body: #"{"reason":"x"}"#)
            #expect(low.0 == 403 && low.1.contains("operator"), "\(low)")
            #expect(try await status(.get, "/api/v1/tokens", token: viewer).0 == 403)
            // Allowed.
            #expect(try await status(.get, "/api/v1/tenants/acme/stats", token: viewer).0 == 200)
            #expect(try await status(.get, "/api/v1/tenants", token: partner).0 == 200)
            #expect(try await status(.get, "/api/v1/tokens", token: partner).0 == 200)
            // Public routes need nothing; a known path with another method is 405, not 404.
            #expect(try await status(.get, "/healthz").0 == 200)
            #expect(try await status(.delete, "/api/v1/tenants").0 == 405)
            // The dashboard sends a visitor without a session to sign in, and does not take a bearer token as one.
            let ui = try await client.execute(uri: "/ui", method: .get, headers: [.authorization: "Bearer \(partner)"]) { $0 }
            #expect(ui.status == .seeOther && ui.headers[.location] == "/")
        }
    }

    /// `GET /api/v1/packages`: partner-scoped admins only; what each tenant runs, and an install the running generation
    /// has not taken shows as pending (this runtime has no reload: it stays so), with the install history from the audit trail.
    @Test func packagesAreForPartnerAdminsAndShowWhatRunsAndWhatWaits() async throws {
        let dir = TestEnv.tempDir("sbrouter-packages")
        try FileManager.default.createDirectory(atPath: dir + "/packages", withIntermediateDirectories: true)
        func entry(_ version: String, previous: InstalledPackages.Entry? = nil) -> InstalledPackages.Entry {
            InstalledPackages.Entry(id: "acme.starter", version: version, sha256: String(repeating: "a", count: 64), kind: "accelerator",
                                    publisher: "acme", signedBy: "0123456789abcdef", installedAt: "2026-12-07T10:00:00Z", actor: "cli:ops",
                                    values: .object([]), fragments: [], plugins: [], previous: previous)
        }
        try InstalledPackages(tenants: ["acme": [entry("1.0.0")]]).save(directory: dir + "/packages")
        let config = try ConfigLoader.parse("""
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(dir)
            tenants:
              - { id: acme, name: Acme, connections: [] }
              - { id: globex, name: Globex, connections: [] }
            """, file: dir + "/switchboard.yaml")
        let runtime = try Runtime(config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        defer { runtime.registry.close() }
        // Upgraded on disk after the host started.
        try InstalledPackages(tenants: ["acme": [entry("1.1.0", previous: entry("1.0.0"))]]).save(directory: dir + "/packages")
        try runtime.store.audit(actor: "cli:ops", action: "package.upgraded", target: "acme/acme.starter", detail: "from 1.0.0 to 1.1.0", now: 2)
        var tokens: [String: String] = [:]
        for (name, role, tenant) in [("partner", AdminRole.admin, nil), ("partner-viewer", .viewer, nil), ("acme-admin", .admin, "acme")] as [(String, AdminRole, String?)] {
            let made = AdminTokens.make(name: name, role: role, tenant: tenant, now: 1)
            try #require(runtime.store as? any TokenStore).createToken(made.row, actor: "test")
            tokens[name] = made.token
        }
        let app = Application(router: AdminServer.router(runtime: runtime))
        let issued = tokens
        try await app.test(.router) { client in
            func get(_ token: String) async throws -> (Int, String) {
                try await client.execute(uri: "/api/v1/packages", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
            }
            #expect(try await get(issued["partner-viewer"]!).0 == 403)
            let tenantAdmin = try await get(issued["acme-admin"]!)
            #expect(tenantAdmin.0 == 403 && tenantAdmin.1.contains("partner-scoped"), "\(tenantAdmin)")
            let ok = try await get(issued["partner"]!)
            #expect(ok.0 == 200, "\(ok)")
            let json = try JSON.parse(Array(ok.1.utf8))
            let acme = try #require(json["tenants"]?["acme"]?.arrayValue?.first)
            #expect(acme["version"] == .string("1.1.0") && acme["running_version"] == .string("1.0.0") && acme["pending"] == .bool(true))
            #expect(acme["rollback_to"] == .string("1.0.0") && acme["signed_by"] == .string("0123456789abcdef"))
            #expect(json["tenants"]?["globex"]?.arrayValue?.isEmpty == true)
            #expect(json["history"]?.arrayValue?.first?["action"] == .string("package.upgraded"))
        }
    }
}
