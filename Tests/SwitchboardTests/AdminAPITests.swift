import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardAdmin
import SwitchboardCore
import SwitchboardStore
import Testing

/// The admin API and webhook ingress of `switchboard run --http-port`, against
/// the real server on loopback (docs/ADMIN-API.md).
@Suite(.serialized) struct AdminAPITests {
    /// A running host with two tenants, tokens of every role and scope, and a few exception items per tenant.
    final class Host: @unchecked Sendable {
        let dir: String
        let config: String
        let port: Int
        let process: Process
        var tokens: [String: String] = [:]  // name -> token

        init() throws {
            dir = TestEnv.tempDir("sbadmin")
            config = dir + "/switchboard.yaml"
            port = TestEnv.freePort()
            func tenant(_ id: String) -> String {
                """
                  - id: \(id)
                    name: \(id.capitalized) Consulting
                    connections:
                      - { id: gen, plugin: testkit, config: { role: source, records: 3, prefix: \(id.uppercased()) }, poll: { every: 50ms, streams: [records] } }
                      - { id: erp, plugin: testkit, config: { role: sink, misbehave: fatal } }
                      - { id: archive, plugin: testkit, config: { role: sink } }
                      - { id: hooks, plugin: example-swift, config: { contacts: 1, domain: \(id).example, webhook_token: tok-\(id)-123 } }
                    workflows:
                      - { id: copy, trigger: { event: record.Account, source: gen }, steps: [ { write: { connection: erp, entity: Account } } ] }
                      - { id: keep, trigger: { event: record.Account, source: gen }, steps: [ { write: { connection: archive, entity: Account } } ] }
                """
            }
            try """
                version: 1
                store: sqlite:\(dir)/store.db
                plugins: \(TestEnv.productsDir)
                branding: { name: "Northwind IT Partners", primary_color: "#0a7d4f" }
                tenants:
                \(tenant("acme"))
                \(tenant("globex"))
                """.write(toFile: config, atomically: true, encoding: .utf8)
            for (name, role, scope) in [("partner-admin", "admin", nil), ("partner-viewer", "viewer", nil), ("acme-operator", "operator", "acme"),
                                        ("acme-viewer", "viewer", "acme"), ("globex-admin", "admin", "globex")] as [(String, String, String?)] {
                let result = try TestEnv.run(TestEnv.switchboard, ["tokens", "create", "--config", config, "--name", name, "--role", role]
                                             + (scope.map { ["--tenant", $0] } ?? []))
                guard result.status == 0 else { throw TestEnv.FixtureError(message: result.stderr) }
                tokens[name] = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            process.arguments = ["run", "--config", config, "--http-port", String(port)]
            process.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_LOG_LEVEL": "critical"]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func stop() {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }

        struct Reply {
            var status: Int
            var body: String
            var json: JSON? { try? JSON.parse(body) }
        }

        func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil,
                  contentType: String? = "application/json", headers: [(String, String)] = []) async throws -> Reply {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body {
                if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
                request.body = .bytes(ByteBuffer(string: body))
            }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 4 << 20)
            return Reply(status: Int(response.status.code), body: String(buffer: bytes))
        }

        /// Waits until the server answers and every tenant has its three exception items and three done transactions.
        /// Generous: other suites run hosts, sandboxes and databases on the same 2 cores meanwhile.
        func ready() async throws {
            let deadline = Date().addingTimeInterval(90)
            while Date() < deadline {
                if let reply = try? await call(.GET, "/api/v1/tenants", token: tokens["partner-admin"]), reply.status == 200,
                   reply.body.contains(#""open_exceptions":3"#), reply.body.components(separatedBy: #""open_exceptions":3"#).count == 3,
                   let a = try? await call(.GET, "/api/v1/tenants/acme/stats", token: tokens["partner-admin"]), a.json?["done"]?.intValue == 3,
                   let g = try? await call(.GET, "/api/v1/tenants/globex/stats", token: tokens["partner-admin"]), g.json?["done"]?.intValue == 3 {
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestEnv.FixtureError(message: "the host did not become ready")
        }

        func openItem(_ tenant: String) async throws -> Int64 {
            let reply = try await call(.GET, "/api/v1/tenants/\(tenant)/exceptions", token: tokens["partner-admin"])
            guard let id = reply.json?["exceptions"]?.arrayValue?.first?["id"]?.intValue else {
                throw TestEnv.FixtureError(message: "no open item in \(tenant): \(reply.body)")
            }
            return Int64(id)
        }
    }

    /// Every endpoint x every role x own and other tenant: the right 2xx, 401, 403 or 404, and no cross-tenant effect.
    @Test func rbacMatrixHasNoCrossTenantReadsOrWrites() async throws {
        let host = try Host()
        defer { host.stop() }
        try await host.ready()
        let items = ["acme": try await host.openItem("acme"), "globex": try await host.openItem("globex")]
        var transactions: [String: Int] = [:]
        var archived: [String: String] = [:]
        for tenant in ["acme", "globex"] {
            let done = try await host.call(.GET, "/api/v1/tenants/\(tenant)/transactions?status=done&limit=1", token: host.tokens["partner-admin"])
            transactions[tenant] = done.json?["transactions"]?.arrayValue?.first?["id"]?.intValue
            // The archive sink's id for the record (X-1...), found through the transaction's write step.
            let detail = try await host.call(.GET, "/api/v1/tenants/\(tenant)/transactions/\(transactions[tenant] ?? 0)", token: host.tokens["partner-admin"])
            archived[tenant] = detail.json?["steps"]?.arrayValue?.last?["detail"]?.stringValue?.split(separator: " ").dropFirst().first.map(String.init)
        }
        #expect(transactions.count == 2 && archived.count == 2, "\(transactions) \(archived)")
        let endpoints: [(HTTPMethod, String, AdminRole, String?)] = [
            (.GET, "/api/v1/tenants/{t}/stats", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/connections", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/exceptions", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/exceptions/{id}", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/workflows", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/transactions?status=done", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/transactions/{tx}", .viewer, nil),
            (.GET, "/api/v1/tenants/{t}/xref?entity=Account&connection=archive&external_id={xid}", .viewer, nil),
            (.POST, "/api/v1/tenants/{t}/connections/gen/check", .operator, nil),
            (.POST, "/api/v1/tenants/{t}/connections/erp/pause", .operator, #"{"reason":"matrix"}"#),
            (.POST, "/api/v1/tenants/{t}/connections/erp/resume", .operator, #"{"reason":"matrix"}"#),
            (.POST, "/api/v1/tenants/{t}/exceptions/{id}/assign", .operator, #"{"to":"alice"}"#),
            (.POST, "/api/v1/tenants/{t}/exceptions/{id}/retry", .operator, #"{"reason":"matrix"}"#),
            (.POST, "/api/v1/tenants/{t}/exceptions/{id}/discard", .operator, #"{"reason":"matrix"}"#),
        ]
        let principals: [(String?, AdminRole, String?)] = [
            (nil, .viewer, nil), ("bogus", .viewer, nil),
            ("partner-admin", .admin, nil), ("partner-viewer", .viewer, nil), ("acme-operator", .operator, "acme"),
            ("acme-viewer", .viewer, "acme"), ("globex-admin", .admin, "globex"),
        ]
        for (method, template, needed, body) in endpoints {
            for (name, role, scope) in principals {
                for tenant in ["acme", "globex"] {
                    let path = template.replacingOccurrences(of: "{t}", with: tenant).replacingOccurrences(of: "{id}", with: "\(items[tenant]!)")
                        .replacingOccurrences(of: "{tx}", with: "\(transactions[tenant] ?? 0)").replacingOccurrences(of: "{xid}", with: archived[tenant] ?? "")
                    let token = name == "bogus" ? "sbt_not-a-real-token" : name.flatMap { host.tokens[$0] }
                    let reply = try await host.call(method, path, token: token, body: body)
                    let expected: ClosedRange<Int>
                    if name == nil || name == "bogus" { expected = 401...401 }
                    else if let scope, scope != tenant { expected = 404...404 }
                    else if role < needed { expected = 403...403 }
                    else { expected = 200...299 }
                    // A retry or discard after an earlier one in the matrix meets an item that is no longer open.
                    let conflictAllowed = expected == 200...299 && (template.hasSuffix("retry") || template.hasSuffix("discard"))
                    #expect(expected.contains(reply.status) || (conflictAllowed && reply.status == 409),
                            "\(method) \(path) as \(name ?? "nobody"): \(reply.status) \(reply.body)")
                    if reply.status >= 400 { #expect(reply.json?["error"]?["status"]?.intValue == reply.status, "JSON error body: \(reply.body)") }
                }
            }
        }

        // Listing shows only the tenants in scope.
        let acmeList = try await host.call(.GET, "/api/v1/tenants", token: host.tokens["acme-viewer"])
        #expect(acmeList.json?["tenants"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["acme"])
        let partnerList = try await host.call(.GET, "/api/v1/tenants", token: host.tokens["partner-viewer"])
        #expect(partnerList.json?["tenants"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["acme", "globex"])
        // Partner-wide endpoints: plugins for any valid token; the audit trail only for partner-scoped ones.
        for (name, plugins, audit) in [("partner-viewer", 200, 200), ("acme-viewer", 200, 403), ("globex-admin", 200, 403)] {
            #expect(try await host.call(.GET, "/api/v1/plugins", token: host.tokens[name]).status == plugins, "\(name) plugins")
            #expect(try await host.call(.GET, "/api/v1/audit", token: host.tokens[name]).status == audit, "\(name) audit")
        }
        #expect(try await host.call(.GET, "/api/v1/audit").status == 401)

        // The audit trail: every mutation has its token as actor, and no tenant token touched the other tenant.
        host.stop()
        let store = try SQLiteStore.open(url: "sqlite:\(host.dir)/store.db")
        let entries = try store.auditEntries(limit: 10_000).filter { $0.actor.hasPrefix("api:") }
        #expect(entries.contains { $0.actor == "api:acme-operator" })
        #expect(entries.contains { $0.actor == "api:globex-admin" })
        for entry in entries where entry.actor.hasPrefix("api:acme-") { #expect(!"\(entry.target) \(entry.detail)".contains("globex"), "\(entry)") }
        for entry in entries where entry.actor.hasPrefix("api:globex-") { #expect(!"\(entry.target) \(entry.detail)".contains("acme"), "\(entry)") }
        #expect(!entries.contains { $0.actor.contains("viewer") }, "viewers changed nothing")
    }

    /// A client's mistake is a 4xx with a JSON error body, never a 500.
    @Test func badInputGetsAClearFourHundred() async throws {
        let host = try Host()
        defer { host.stop() }
        try await host.ready()
        let op = host.tokens["acme-operator"]
        let partner = host.tokens["partner-admin"]
        let item = try await host.openItem("acme")
        let cases: [(String, Host.Reply, Int, String)] = [
            ("malformed JSON", try await host.call(.POST, "/api/v1/tenants/acme/exceptions/\(item)/assign", token: op, body: #"{"to": "#), 400, "malformed JSON"),
            ("a JSON array", try await host.call(.POST, "/api/v1/tenants/acme/exceptions/\(item)/assign", token: op, body: "[1]"), 400, "must be a JSON object"),
            ("missing field", try await host.call(.POST, "/api/v1/tenants/acme/exceptions/\(item)/assign", token: op, body: "{}"), 400, "to: required"),
            ("wrong field type", try await host.call(.POST, "/api/v1/tenants/acme/connections/erp/pause", token: op, body: #"{"reason": 5}"#), 400, "reason: must be a string"),
            ("wrong content type", try await host.call(.POST, "/api/v1/tenants/acme/connections/erp/pause", token: op, body: "reason=x", contentType: "application/x-www-form-urlencoded"), 415, "application/json"),
            ("oversize body", try await host.call(.POST, "/api/v1/tenants/acme/connections/erp/pause", token: op,
                                                  body: #"{"reason":""# + String(repeating: "x", count: 2 << 20) + #""}"#), 413, "larger than"),
            ("unknown tenant", try await host.call(.GET, "/api/v1/tenants/initech/exceptions", token: partner), 404, "no tenant"),
            ("unknown connection", try await host.call(.POST, "/api/v1/tenants/acme/connections/nope/pause", token: op, body: #"{"reason":"x"}"#), 404, "no connection"),
            ("unknown item", try await host.call(.GET, "/api/v1/tenants/acme/exceptions/999999", token: op), 404, "no exception item"),
            ("item id not a number", try await host.call(.GET, "/api/v1/tenants/acme/exceptions/abc", token: op), 400, "id: must be a whole number"),
            ("bad status filter", try await host.call(.GET, "/api/v1/tenants/acme/exceptions?status=weird", token: op), 400, "status: must be"),
            ("bad limit", try await host.call(.GET, "/api/v1/tenants/acme/exceptions?limit=0", token: op), 400, "limit"),
            ("bad token", try await host.call(.GET, "/api/v1/tenants", token: "sbt_forged"), 401, "valid token"),
            ("no token", try await host.call(.GET, "/api/v1/tenants"), 401, "valid token"),
            ("hook: unknown connection", try await host.call(.POST, "/hooks/acme/nope", body: "{}"), 404, "no webhook endpoint"),
            ("hook: connection without webhooks", try await host.call(.POST, "/hooks/acme/erp", body: "{}"), 404, "no webhook endpoint"),
            ("hook: forged token", try await host.call(.POST, "/hooks/acme/hooks", body: #"{"last_name":"X"}"#, headers: [("X-Example-Token", "forged-123")]), 401, "does not match"),
            ("hook: oversize", try await host.call(.POST, "/hooks/acme/hooks", body: String(repeating: "x", count: 2 << 20)), 413, "larger than"),
        ]
        for (label, reply, status, text) in cases {
            #expect(reply.status == status, "\(label): \(reply.status) \(reply.body.prefix(300))")
            #expect(reply.json?["error"]?["status"]?.intValue == status, "\(label): JSON error body: \(reply.body.prefix(300))")
            #expect(reply.body.contains(text), "\(label): \(reply.body.prefix(300))")
        }
        // A forged webhook stored nothing; a genuine one is accepted once durable.
        let before = try await host.call(.GET, "/api/v1/tenants/acme/stats", token: op).json?["events"]?.intValue
        let good = try await host.call(.POST, "/hooks/acme/hooks", body: #"{"external_id":"C-9","updated_at":"2026-11-27T10:00:00Z","last_name":"Doe"}"#,
                                       headers: [("X-Example-Token", "tok-acme-123")])
        #expect(good.status == 202, "\(good.body)")
        let after = try await host.call(.GET, "/api/v1/tenants/acme/stats", token: op).json?["events"]?.intValue
        #expect(before != nil && after == before! + 1, "one event stored: \(String(describing: before)) -> \(String(describing: after))")
        // A replayed delivery is acknowledged but stores nothing new (the event log drops it as a redelivery).
        let replay = try await host.call(.POST, "/hooks/acme/hooks", body: #"{"external_id":"C-9","updated_at":"2026-11-27T10:00:00Z","last_name":"Doe"}"#,
                                         headers: [("X-Example-Token", "tok-acme-123")])
        #expect(replay.status == 202 && replay.json?["duplicates"]?.intValue == 1, "\(replay.body)")
        #expect(try await host.call(.GET, "/api/v1/tenants/acme/stats", token: op).json?["events"]?.intValue == after)
        #expect(try await host.call(.GET, "/healthz").status == 200)
        #expect(try await host.call(.GET, "/readyz").status == 200)
    }

    /// A real browser signs in, reads the dashboard, and the figures it shows are the API's; an operator discards from the page.
    @Test func theDashboardShowsWhatTheAPIReports() async throws {
        let host = try Host()
        defer { host.stop() }
        try await host.ready()
        let token = try #require(host.tokens["acme-operator"])
        let item = try await host.openItem("acme")
        // The API's figures before the browser acts (it reads the page, then discards an item).
        let stats = try #require(try await host.call(.GET, "/api/v1/tenants/acme/stats", token: token).json)
        let artifacts = TestEnv.repoRoot + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts + "/dashboard.png"
        try? FileManager.default.removeItem(atPath: screenshot)
        let run = try TestEnv.run(TestEnv.repoRoot + "/.build-venv/bin/python",
                                  [TestEnv.repoRoot + "/Tests/Fixtures/browser_check.py", "http://127.0.0.1:\(host.port)", token, "acme", screenshot, "\(item)"])
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        let page = try #require(try? JSON.parse(run.stdout), "browser output: \(run.stdout.prefix(500)) \(run.stderr.suffix(1000))")
        let figures = try #require(page["figures"])
        func shown(_ id: String) -> String? { figures[id]?.stringValue }
        #expect(shown("count-done") == "\(stats["done"]!.intValue!)")
        #expect(shown("count-exceptions") == "\(stats["open_exceptions"]!.intValue!)")
        #expect(shown("count-pending") == "\(stats["pending"]!.intValue!)")
        #expect(shown("reason-count-fatal") == "\(stats["exceptions_by_reason"]!["fatal"]!["count"]!.intValue!)")
        #expect(shown("latency-p50") == "\(stats["latency_ms"]!["p50"]!.intValue!)")
        #expect(shown("latency-p95") == "\(stats["latency_ms"]!["p95"]!.intValue!)")
        #expect(shown("sla") == "100.0%", "3 of 3 done within the 15 min target")
        #expect(shown("health-gen") == "healthy")
        // White-label: the partner's brand, and no Switchboard branding anywhere on the page.
        #expect(shown("brand") == "Northwind IT Partners")
        #expect(page["text"]?.stringValue?.contains("Switchboard") == false)
        #expect(FileManager.default.fileExists(atPath: screenshot), "screenshot saved as a test artifact")
        // The discard clicked in the browser reached the store, audited with the operator's token.
        #expect(page["notice"]?.stringValue?.contains("discarded") == true)
        let after = try await host.call(.GET, "/api/v1/tenants/acme/exceptions/\(item)", token: token)
        #expect(after.json?["status"]?.stringValue == "discarded", "\(after.body)")
        print("dashboard screenshot: \(screenshot)")
    }

    /// Admins manage tokens within their scope; a new token works at once and a revoked one stops at once.
    @Test func adminsManageTokensWithinTheirScope() async throws {
        let host = try Host()
        defer { host.stop() }
        try await host.ready()
        let partner = host.tokens["partner-admin"], globex = host.tokens["globex-admin"], acmeOp = host.tokens["acme-operator"]
        // Only admins; a tenant admin only for its own tenant and never above its role.
        #expect(try await host.call(.GET, "/api/v1/tokens", token: acmeOp).status == 403)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: acmeOp, body: #"{"name":"x","role":"viewer","tenant":"acme"}"#).status == 403)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: globex, body: #"{"name":"x","role":"viewer","tenant":"acme"}"#).status == 404)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: globex, body: #"{"name":"x","role":"viewer"}"#).status == 403)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: partner, body: #"{"name":"Bad Name","role":"viewer"}"#).status == 400)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: partner, body: #"{"name":"y","role":"root"}"#).status == 400)
        let listed = try await host.call(.GET, "/api/v1/tokens", token: globex)
        #expect(listed.json?["tokens"]?.arrayValue?.compactMap { $0["tenant"]?.stringValue } == ["globex"], "\(listed.body)")
        #expect(!listed.body.contains(host.tokens["globex-admin"]!), "never the token itself")
        // Created by the globex admin for globex: usable at once, scoped, audited; revoked: refused at once.
        let created = try await host.call(.POST, "/api/v1/tokens", token: globex, body: #"{"name":"globex-ci","role":"viewer","tenant":"globex"}"#)
        #expect(created.status == 201, "\(created.body)")
        let fresh = try #require(created.json?["token"]?.stringValue)
        #expect(try await host.call(.GET, "/api/v1/tenants/globex/stats", token: fresh).status == 200)
        #expect(try await host.call(.GET, "/api/v1/tenants/acme/stats", token: fresh).status == 404)
        #expect(try await host.call(.POST, "/api/v1/tokens", token: globex, body: #"{"name":"globex-ci","role":"viewer","tenant":"globex"}"#).status == 409)
        // The dashboard signs in with the token and keeps a server-side session: the cookie is a session id, never
        // the token (before: the token itself), Secure behind a TLS proxy, ended by logout and by the token's revocation.
        let browser = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        func send(_ method: HTTPMethod, _ path: String, cookie: String? = nil, form: String? = nil,
                  headers: [(String, String)] = []) async throws -> (status: UInt, setCookie: String?, location: String?) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(host.port)\(path)")
            request.method = method
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: form))
            }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await browser.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 4 << 20)
            return (response.status.code, response.headers.first(name: "Set-Cookie"), response.headers.first(name: "Location"))
        }
        func signIn(_ headers: [(String, String)] = []) async throws -> String {
            let reply = try await send(.POST, "/login", form: "token=\(fresh)", headers: headers)
            let setCookie = try #require(reply.setCookie, "signing in sets a cookie")
            #expect(reply.status == 303 && !setCookie.contains(fresh) && !setCookie.contains("sbt_"), "the cookie holds the token: \(setCookie)")
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            #expect(setCookie.contains("; Secure") == !headers.isEmpty, "Secure exactly behind TLS: \(setCookie)")
            return String(setCookie.split(separator: ";")[0])
        }
        let session = try await signIn(), tlsSession = try await signIn([("X-Forwarded-Proto", "https")])
        #expect(try await send(.GET, "/ui", cookie: session).status == 200)
        #expect(try await send(.GET, "/ui", cookie: "sb_session=\(fresh)").location == "/", "the token itself is no session")
        _ = try await send(.POST, "/logout", cookie: tlsSession)
        #expect(try await send(.GET, "/ui", cookie: tlsSession).location == "/", "logout ends the session")
        #expect(try await send(.GET, "/ui", cookie: session).status == 200, "and only that one")
        #expect(try await host.call(.POST, "/api/v1/tokens/globex-ci/revoke", token: partner).status == 200)
        #expect(try await host.call(.GET, "/api/v1/tenants/globex/stats", token: fresh).status == 401)
        #expect(try await send(.GET, "/ui", cookie: session).location == "/", "a revoked token ends its sessions at once")
        try await browser.shutdown()
        #expect(try await host.call(.POST, "/api/v1/tokens/partner-viewer/revoke", token: globex).status == 404, "not in its scope")
        let audit = try await host.call(.GET, "/api/v1/audit", token: partner)
        #expect(audit.body.contains(#""actor":"api:globex-admin","action":"token.create","target":"globex-ci""#), "\(audit.body.prefix(800))")
        #expect(audit.body.contains(#""actor":"api:partner-admin","action":"token.revoke","target":"globex-ci""#))
        #expect(!audit.body.contains(fresh))
    }

    /// The served OpenAPI document is the repository's, valid OpenAPI 3.1, and lists every route.
    @Test func theOpenAPIDocumentIsValidAndComplete() async throws {
        let host = try Host()
        defer { host.stop() }
        try await host.ready()
        let served = try await host.call(.GET, "/api/v1/openapi.json")
        #expect(served.status == 200)
        let file = TestEnv.repoRoot + "/Sources/SwitchboardAdmin/openapi.json"
        #expect(served.body == (try String(contentsOfFile: file, encoding: .utf8)))
        let validator = TestEnv.repoRoot + "/.build-venv/bin/python"
        #expect(FileManager.default.isExecutableFile(atPath: validator), "scripts/install-deps sets up the validator")
        let check = try TestEnv.run(validator, ["-m", "openapi_spec_validator", file])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let doc = try #require(served.json)
        #expect(doc["openapi"]?.stringValue == "3.1.0")
        for (method, path) in AdminServer.routes {
            #expect(doc["paths"]?[path]?[method.lowercased()] != nil, "\(method) \(path) is missing from openapi.json")
        }
        #expect(doc["paths"]?.objectValue?.count == Set(AdminServer.routes.map(\.path)).count, "no path in the document that the server lacks")
    }
}
