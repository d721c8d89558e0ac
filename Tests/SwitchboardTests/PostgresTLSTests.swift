import Foundation
import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// TLS to the database (docs/STORE-POSTGRES.md): scripts/start-postgres serves TLS with a certificate for
/// localhost and 127.0.0.1 from a CA of the cluster's own, and plain connections beside it. It also
/// listens on 127.0.0.2, which the certificate does not name.
@Suite struct PostgresTLSTests {
    /// The test cluster's URL with another host and query string.
    func url(host: String, query: String?) throws -> String {
        let base = try #require(TestPostgres.url)
        var components = try #require(URLComponents(string: base))
        components.host = host
        components.query = query
        return try #require(components.string)
    }

    /// Whether the server sees this connection as encrypted.
    func encrypted(_ url: String) throws -> Bool {
        let settings = try PostgresSettings(url: url, environment: TestPostgres.hostEnvironment)
        let pool = PGPool(settings: settings, size: 1, logger: .init(label: "test"))
        defer { pool.close() }
        return try pool.with { try $0.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].bool(0) }
    }

    var caFile: String? { ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_CA_FILE"] }

    @Test func eachSSLModeConnectsAsItSays() throws {
        let ca = try #require(caFile, "scripts/start-postgres prints SWITCHBOARD_TEST_POSTGRES_CA_FILE")
        #expect(try encrypted(url(host: "localhost", query: "sslmode=verify-full&sslrootcert=\(ca)")), "checked by name")
        #expect(try encrypted(url(host: "127.0.0.1", query: "sslmode=verify-full&sslrootcert=\(ca)")), "checked by address")
        #expect(try encrypted(url(host: "127.0.0.1", query: "sslmode=require")))
        #expect(try encrypted(url(host: "127.0.0.1", query: "sslmode=prefer")), "prefer takes the TLS the server offers")
        #expect(try encrypted(url(host: "127.0.0.1", query: "sslmode=verify-ca&sslrootcert=\(ca)")))
        #expect(try !encrypted(url(host: "127.0.0.1", query: nil)), "disable is the default")
        // A store on a TLS URL works like any other.
        let database = "sb_tls_\(UUID().uuidString.prefix(8).lowercased())"
        try TestPostgres.settings().createDatabase(database)
        let store = try PostgresStore(settings: PostgresSettings(url: url(host: "localhost", query: "sslmode=verify-full&sslrootcert=\(ca)"),
                                                                 environment: TestPostgres.hostEnvironment).database(database))
        try store.audit(actor: "ops", action: "tls.check", target: "store", detail: "", now: 1)
        #expect(try store.verifyAudit().ok)
        #expect(store.settings.redactedURL.hasSuffix("?sslmode=verify-full&sslrootcert=\(ca)"))
    }

    @Test func aServerTheTrustRootsDoNotVouchForIsRefused() throws {
        // The system's trust roots, which do not hold the cluster's CA.
        let refused = #expect(throws: StoreError.self) { try encrypted(url(host: "localhost", query: "sslmode=verify-full")) }
        let message = refused?.message ?? ""
        #expect(message.contains("cannot connect to the PostgreSQL store at postgres://switchboard@localhost"), "\(message)")
        #expect(message.contains("CERTIFICATE_VERIFY_FAILED"), "the error says why: \(message)")
    }

    @Test func aCertificateForAnotherNameIsRefused() throws {
        let ca = try #require(caFile, "scripts/start-postgres prints SWITCHBOARD_TEST_POSTGRES_CA_FILE")
        // The cluster also listens on 127.0.0.2, which its certificate (localhost, 127.0.0.1) does not name:
        // reachable and encrypted, yet refused where the name is checked.
        #expect(try encrypted(url(host: "127.0.0.2", query: "sslmode=require")), "the address is served")
        let refused = #expect(throws: StoreError.self) { try encrypted(url(host: "127.0.0.2", query: "sslmode=verify-full&sslrootcert=\(ca)")) }
        let message = refused?.message ?? ""
        #expect(message.contains("postgres://switchboard@127.0.0.2"), "\(message)")
        #expect(message.lowercased().contains("hostname") || message.contains("127.0.0.2 does not match"), "the error says why: \(message)")
        // verify-ca checks the chain only: the same address is accepted, and a chain from elsewhere is not.
        #expect(try encrypted(url(host: "127.0.0.2", query: "sslmode=verify-ca&sslrootcert=\(ca)")), "verify-ca ignores the name")
        let untrusted = #expect(throws: StoreError.self) { try encrypted(url(host: "127.0.0.2", query: "sslmode=verify-ca")) }
        #expect(untrusted?.message.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(untrusted?.message ?? "")")
    }

    /// prefer falls back to a plain connection where the server offers no TLS (a listener of our own that refuses it).
    @Test func preferFallsBackToPlainWhenTheServerOffersNoTLS() throws {
        let base = try #require(TestPostgres.url)
        var components = try #require(URLComponents(string: base))
        let upstream = try #require(components.port)
        let plain = try LoopbackServer(script: "pg_plain_proxy.py", arguments: [String(upstream)])
        components.port = plain.port
        components.query = "sslmode=prefer"
        let prefer = try #require(components.string)
        #expect(try !encrypted(prefer), "prefer connects in plain text to a server without TLS")
        components.query = "sslmode=require"
        let require = try #require(components.string)
        #expect(throws: StoreError.self, "require does not") { try encrypted(require) }
    }

    @Test func badTLSSettingsAreConfigurationErrorsThatNameTheProblem() throws {
        let cases: [(String, String)] = [
            ("sslmode=allow", "sslmode \"allow\" is not one of disable, prefer, require, verify-ca, verify-full"),
            ("sslmode=verify-full&sslrootcert=/nonexistent/ca.crt", "sslrootcert /nonexistent/ca.crt is not a readable PEM file"),
            ("sslmode=verify-ca&sslrootcert=/etc/hostname", "sslrootcert /etc/hostname"),
            ("sslmode=require&sslrootcert=/etc/hostname", "sslrootcert needs sslmode=verify-ca or verify-full"),
            ("sslmode=prefer&sslrootcert=/etc/hostname", "sslrootcert needs sslmode=verify-ca or verify-full"),
            ("sslmod=require", "unknown parameter \"sslmod\""),
        ]
        for (query, message) in cases {
            let error = #expect(throws: StoreError.self) { try PostgresSettings(url: try url(host: "db.example", query: query), environment: [:]) }
            #expect(error?.message.contains(message) == true, "\(query): \(error?.message ?? "no error")")
        }
    }
}
