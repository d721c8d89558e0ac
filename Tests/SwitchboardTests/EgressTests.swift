import Foundation
import Logging
import SwitchboardCore
import SwitchboardEgress
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardStore
import SwitchboardVault
import Testing

/// A real server on loopback, started by the tests: by default the HTTP server of Tests/Fixtures/egress_server.py.
final class LoopbackServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    /// The server exits when this pipe closes, so it never outlives the test process.
    private let lifeline = Pipe()

    convenience init(tls: (cert: String, key: String)? = nil) throws {
        try self.init(script: "egress_server.py", arguments: tls.map { ["--tls", $0.cert, $0.key] } ?? [])
    }

    /// Runs a fixture script of Tests/Fixtures that prints its port on its first line and exits when its stdin closes.
    init(script: String, arguments: [String]) throws {
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestEnv.repoRoot + "/Tests/Fixtures/" + script] + arguments
        process.standardOutput = out
        process.standardInput = lifeline
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let text = String(data: line, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestEnv.FixtureError(message: "the loopback server did not start")
        }
        self.port = port
    }

    // SIGKILL: the test process ignores SIGTERM (service-lifecycle's handlers) and its children inherit that.
    deinit { kill(process.processIdentifier, SIGKILL) }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}

@Suite(.serialized) struct EgressTests {
    static let secrets: [String: String] = [
        "vault:token": "canary-bearer-9z7x", "vault:user": "api-user", "vault:pw": "canary-pw-7q3w", "vault:key": "canary-apikey-5k2m",
        "vault:cid": "cid", "vault:csecret": "canary-client-secret-8h", "vault:refresh": "refresh-1",
    ]

    func egress(_ server: LoopbackServer, _ configure: (inout EgressPolicy) -> Void) -> HTTPEgress {
        var policy = EgressPolicy(allow: ["127.0.0.1:\(server.port)"])
        configure(&policy)
        return HTTPEgress(policy: policy, resolve: { Self.secrets[$0].map { Array($0.utf8) } })
    }

    func get(_ e: HTTPEgress, _ url: String, auth: Bool = true) -> EgressResult {
        e.send(EgressRequest(method: "GET", url: url, headers: [], body: [], timeoutMilliseconds: 0, injectAuth: auth))
    }

    func status(_ result: EgressResult) -> Int? {
        if case .response(let status, _, _) = result { return status }
        return nil
    }

    @Test func staticSchemesAreInjected() throws {
        let server = try LoopbackServer()
        #expect(status(get(egress(server) { $0.auth = .bearer(token: "vault:token") }, server.url("/protected"))) == 200)
        #expect(status(get(egress(server) { $0.auth = .bearer(token: "vault:token") }, server.url("/protected"), auth: false)) == 401)
        #expect(status(get(egress(server) { $0.auth = .basic(username: "vault:user", password: "vault:pw") }, server.url("/basic"))) == 200)
        #expect(status(get(egress(server) { $0.auth = .apiKey(header: "X-API-Key", value: "vault:key") }, server.url("/apikey"))) == 200)
        // A plugin's own Authorization header is dropped: the host owns credentials.
        let e = egress(server) { _ in }
        let spoofed = e.send(EgressRequest(method: "GET", url: server.url("/protected"), headers: [("Authorization", "Bearer canary-bearer-9z7x")],
                                           body: [], timeoutMilliseconds: 0, injectAuth: true))
        #expect(status(spoofed) == 401)
    }

    @Test func oauthClientCredentialsAreCachedAndRefreshedOn401() throws {
        let server = try LoopbackServer()
        let e = egress(server) {
            $0.auth = .oauth2ClientCredentials(tokenURL: server.url("/token"), clientID: "vault:cid", clientSecret: "vault:csecret", scope: "api")
        }
        #expect(status(get(e, server.url("/protected"))) == 200)
        #expect(status(get(e, server.url("/protected"))) == 200)
        let stats = { () throws -> Int in
            guard case .response(_, _, let body) = self.get(self.egress(server) { _ in }, server.url("/stats")) else { return -1 }
            return try JSON.parse(body)["issued"]?.intValue ?? -1
        }
        #expect(try stats() == 1, "the token is cached")
        #expect(status(get(egress(server) { _ in }, server.url("/expire"))) == 200)
        #expect(status(get(e, server.url("/protected"))) == 200, "a 401 after expiry fetches a new token and retries once")
        #expect(try stats() == 2)
    }

    @Test func refreshTokenFlowFollowsRotation() throws {
        let server = try LoopbackServer()
        let e = egress(server) {
            $0.auth = .oauth2RefreshToken(tokenURL: server.url("/token"), clientID: "vault:cid", clientSecret: nil, refreshToken: "vault:refresh")
        }
        #expect(status(get(e, server.url("/protected"))) == 200)
        #expect(status(get(egress(server) { _ in }, server.url("/expire"))) == 200)
        // The provider rotated the refresh token on first use; the host uses the new one.
        #expect(status(get(e, server.url("/protected"))) == 200)
    }

    @Test func limitsHold() throws {
        let server = try LoopbackServer()
        let slow = get(egress(server) { $0.readTimeoutMillis = 800 }, server.url("/slow"))
        guard case .failed(let st, let d) = slow else { Issue.record("slow answered"); return }
        #expect(st == .retry && d.summary.contains("timed out"), "\(d)")
        let big = get(egress(server) { $0.maxResponseBytes = 1 << 20 }, server.url("/big"))
        guard case .failed(let bst, let bd) = big else { Issue.record("big answered"); return }
        #expect(bst == .fatal && bd.fieldPath == "egress.max_response")
        let denied = get(egress(server) { _ in }, "http://127.0.0.2:\(server.port)/protected")
        guard case .failed(let dst, let dd) = denied else { Issue.record("left the allowlist"); return }
        #expect(dst == .config && dd.summary.contains("not in this connection's egress allowlist"))
        // Token bucket: 5 requests at 10/s with burst 1 take about 0.4 s.
        let limited = egress(server) {
            $0.ratePerSecond = 10
            $0.burst = 1
        }
        let started = Date()
        for _ in 0..<5 { _ = get(limited, server.url("/apikey")) }
        #expect(Date().timeIntervalSince(started) >= 0.35)
    }

    /// TLS verification is on: an https server whose certificate nobody vouches for is refused.
    @Test func anUntrustedCertificateIsRefused() throws {
        let dir = TestEnv.tempDir("sbtls")
        let made = try TestEnv.shell("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout key.pem -out cert.pem 2>/dev/null", in: dir)
        try #require(made.status == 0, "openssl failed: \(made.stderr)")
        let server = try LoopbackServer(tls: (dir + "/cert.pem", dir + "/key.pem"))
        let result = get(egress(server) { $0.auth = .apiKey(header: "X-API-Key", value: "vault:key") }, "https://127.0.0.1:\(server.port)/apikey")
        guard case .failed(let status, let diagnostic) = result else {
            Issue.record("an untrusted certificate was accepted")
            return
        }
        #expect(status == .retry)
        let text = diagnostic.summary.lowercased()
        #expect(text.contains("certificate") || text.contains("ssl") || text.contains("tls") || text.contains("handshake"), "\(diagnostic.summary)")
        #expect(!diagnostic.summary.contains("canary"), "no credential in the error")
    }

    /// End to end through a plugin: credentials come from the vault, the plugin never holds them,
    /// and a 429's Retry-After reaches the retry queue.
    @Test func aPluginCallsAnAPIWithoutHoldingTheSecret() throws {
        let server = try LoopbackServer()
        let dir = TestEnv.tempDir("sbegress")
        _ = try TestEnv.fixture("fixture", [], in: dir)
        let key = MasterKey.generate()
        let store = try SQLiteStore(path: dir + "/store.db")
        try Vault(store: store, masterKey: try MasterKey(text: key))
            .set(tenant: "acme", connection: "api", name: "api-token", value: Array("canary-bearer-9z7x".utf8), actor: "ops")
        func open(_ mode: String) throws -> (Runtime, any PluginHandle) {
            try """
                version: 1
                store: sqlite:\(dir)/store.db
                plugins: \(dir)
                tenants:
                  - id: acme
                    connections:
                      - id: api
                        plugin: fixture
                        config: "\(mode)"
                        secrets: { api_key: vault:api-token }
                        egress:
                          allow: [127.0.0.1:\(server.port)]
                          auth: { type: bearer, token: vault:api-token }
                """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
            setenv("SWITCHBOARD_MASTER_KEY", key, 1)
            defer { unsetenv("SWITCHBOARD_MASTER_KEY") }
            let runtime = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: Logger(label: "t"))
            return (runtime, try #require(runtime.registry.connection(tenant: "acme", id: "api")).instance)
        }
        let (r1, ok) = try open("get:" + server.url("/protected"))
        #expect(ok.checkConnection().isOK)
        r1.registry.close()
        // The same plugin asking for the raw value is refused: allow_raw_secrets is off.
        let (r2, raw) = try open("secret")
        #expect(raw.checkConnection().status == .auth)
        r2.registry.close()
        let (r3, busy) = try open("get:" + server.url("/limited"))
        let outcome = busy.checkConnection()
        #expect(outcome.status == .retry && outcome.retryAfterMillis == 2000)
        r3.registry.close()
    }
}
