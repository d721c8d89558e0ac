import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import SwitchboardVault
import Testing

/// Secrets never appear in logs, errors, exception items or audit lines —
/// even when a careless plugin that was allowed the raw value tries to leak it.
/// (scripts/test also greps the whole suite's output and every test database
/// for the canary values in Tests/Fixtures/canary-secrets.txt.)
@Suite(.serialized) struct RedactionTests {
    final class Lines: @unchecked Sendable {
        let lock = Lock()
        var all: [String] = []
        func add(_ line: String) { lock.withLock { all.append(line) } }
    }

    @Test func aLeakyPluginsSecretIsScrubbedEverywhere() throws {
        let secret = "canary-leaked-by-plugin-3v"
        let dir = TestEnv.tempDir("sbredact")
        _ = try TestEnv.fixture("fixture", [], in: dir)
        let key = MasterKey.generate()
        let store = try SQLiteStore(path: dir + "/store.db")
        try Vault(store: store, masterKey: try MasterKey(text: key))
            .set(tenant: "acme", connection: "leaky", name: "k", value: Array(secret.utf8), actor: "ops")
        try """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(dir)
            tenants:
              - id: acme
                connections:
                  - { id: leaky, plugin: fixture, config: leaky, allow_raw_secrets: true, secrets: { api_key: vault:k } }
            """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let lines = Lines()
        let logger = Logger(label: "test") { label in JSONLogHandler(label: label, level: .trace, write: { lines.add($0) }) }
        setenv("SWITCHBOARD_MASTER_KEY", key, 1)
        defer { unsetenv("SWITCHBOARD_MASTER_KEY") }
        let runtime = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: logger)
        let outcome = try #require(runtime.registry.connection(tenant: "acme", id: "leaky")).instance.checkConnection()
        runtime.registry.close()

        #expect(outcome.status == .fatal)
        #expect(outcome.summary.contains("[REDACTED]"), "\(outcome.summary)")
        #expect(!outcome.summary.contains(secret))
        #expect(lines.all.contains { $0.contains("connecting with api key [REDACTED]") }, "\(lines.all)")
        #expect(!lines.all.joined().contains(secret))
        // As an exception item and an audit line it stays scrubbed too.
        #expect(!DiagnosticCoding.encode(outcome.diagnostics).contains(secret))
        try store.audit(actor: "ops", action: "test", target: "x", detail: "token was \(secret)", now: 1)
        #expect(try store.auditEntries(limit: 1).first?.detail == "token was [REDACTED]")
    }

    @Test func authorizationCredentialsAreMaskedEvenWhenUnknown() {
        #expect(Redactor.redact("GET / with Authorization: Bearer abc.def.ghi failed") == "GET / with Authorization: Bearer [REDACTED] failed")
        #expect(Redactor.redact("Basic dXNlcjpwYXNz") == "Basic [REDACTED]")
        #expect(Redactor.redact("nothing secret here") == "nothing secret here")
    }
}
