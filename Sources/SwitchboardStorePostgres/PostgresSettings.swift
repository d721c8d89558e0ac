import Foundation
import NIOSSL
import PostgresNIO
import SwitchboardStore

/// Where the PostgreSQL store is: `postgres://USER@HOST:PORT/DATABASE[?sslmode=MODE[&sslrootcert=FILE][&prepared_statements=off]]`.
/// The password never sits in the configuration file: it comes from
/// `SWITCHBOARD_STORE_PASSWORD_FILE` (a file holding it) or `SWITCHBOARD_STORE_PASSWORD`.
public struct PostgresSettings: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    var password: String?
    /// TLS to the server, as libpq names it: `disable` (the default), `prefer` (encrypted when the server
    /// offers TLS, else plain; the certificate not checked), `require` (encrypted, the certificate not
    /// checked), `verify-ca` (its chain checked against `sslrootcert`, else the system's trust roots) or
    /// `verify-full` (the chain, and its name against the URL's host). libpq's `allow` is not offered.
    public private(set) var sslMode = "disable"
    public private(set) var sslRootCert: String?
    private var tlsContext: NIOSSLContext?
    /// Whether the queue's frequent statements are prepared once per connection (`prepared_statements=on`, the
    /// default; docs/STORE-POSTGRES.md). `off` sends every statement unnamed, as a pooler in transaction mode
    /// that does not track prepared statements (PgBouncer before 1.21, or without `max_prepared_statements`) needs.
    public private(set) var preparesStatements = true

    /// The URL without any password, for messages.
    public var redactedURL: String {
        let url = "postgres://\(user)@\(host):\(port)/\(database)"
        var query: [String] = []
        if sslMode != "disable" { query.append("sslmode=\(sslMode)" + (sslRootCert.map { "&sslrootcert=\($0)" } ?? "")) }
        if !preparesStatements { query.append("prepared_statements=off") }
        return query.isEmpty ? url : url + "?" + query.joined(separator: "&")
    }

    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let components = URLComponents(string: url), components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw StoreError("store URL \"\(url.split(separator: "@").last.map(String.init) ?? "")\" is not postgres://USER@HOST:PORT/DATABASE")
        }
        if components.password != nil {
            throw StoreError("the store URL holds a password: remove it and set SWITCHBOARD_STORE_PASSWORD_FILE (or SWITCHBOARD_STORE_PASSWORD) instead")
        }
        guard let user = components.user, !user.isEmpty else { throw StoreError("store URL postgres://...: the user is missing (postgres://USER@HOST:PORT/DATABASE)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw StoreError("store URL postgres://\(user)@...: the database name is missing") }
        self.user = user
        self.database = database
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? 5432
        let query = components.queryItems ?? []
        for item in query where !["sslmode", "sslrootcert", "prepared_statements"].contains(item.name) {
            throw StoreError("store URL \(redactedURL): unknown parameter \"\(item.name)\" (sslmode, sslrootcert, prepared_statements)")
        }
        switch query.last(where: { $0.name == "prepared_statements" })?.value {
        case nil, "on": preparesStatements = true
        case "off": preparesStatements = false
        case let other?: throw StoreError("store URL \(redactedURL): prepared_statements \"\(other)\" is not on or off")
        }
        try configureTLS(query)
        if let file = environment["SWITCHBOARD_STORE_PASSWORD_FILE"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw StoreError("SWITCHBOARD_STORE_PASSWORD_FILE names \(file), which cannot be read")
            }
            password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            password = environment["SWITCHBOARD_STORE_PASSWORD"]
        }
    }

    /// Reads `sslmode` and `sslrootcert`; the trust roots are loaded here, so a wrong file is a configuration error.
    private mutating func configureTLS(_ query: [URLQueryItem]) throws {
        sslMode = query.last { $0.name == "sslmode" }?.value ?? "disable"
        sslRootCert = query.last { $0.name == "sslrootcert" }?.value
        let verifying = ["verify-ca": CertificateVerification.noHostnameVerification, "verify-full": .fullVerification]
        guard ["disable", "prefer", "require"].contains(sslMode) || verifying[sslMode] != nil else {
            throw StoreError("store URL \(redactedURL): sslmode \"\(sslMode)\" is not one of disable, prefer, require, verify-ca, verify-full")
        }
        guard sslRootCert == nil || verifying[sslMode] != nil else {
            throw StoreError("store URL \(redactedURL): sslrootcert needs sslmode=verify-ca or verify-full")
        }
        guard sslMode != "disable" else { return }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verifying[sslMode] ?? .none
        if let file = sslRootCert {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(file)
            } catch {
                throw StoreError("store URL \(redactedURL): sslrootcert \(file) is not a readable PEM file of certificates")
            }
            guard !roots.isEmpty else { throw StoreError("store URL \(redactedURL): sslrootcert \(file) holds no certificate") }
            tls.trustRoots = .certificates(roots)
        }
        do {
            tlsContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw StoreError("store URL \(redactedURL): cannot set up TLS: \(error)")
        }
    }

    var configuration: PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database,
                                                             tls: tlsContext.map { sslMode == "prefer" ? .prefer($0) : .require($0) } ?? .disable)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }
}

extension PostgresSettings {
    /// Creates a database owned by this role (needs CREATEDB): benchmarks and tests get one each.
    public func createDatabase(_ name: String) throws {
        try withMaintenanceSession { try $0.run("CREATE DATABASE \(try Self.identifier(name))") }
    }

    /// Drops a database made by `createDatabase` (closing what is still connected to it).
    public func dropDatabase(_ name: String) throws {
        try withMaintenanceSession { try $0.run("DROP DATABASE IF EXISTS \(try Self.identifier(name)) WITH (FORCE)") }
    }

    /// A copy pointing at another database on the same server.
    public func database(_ name: String) -> PostgresSettings {
        var copy = self
        copy.database = name
        return copy
    }

    private func withMaintenanceSession(_ body: (PGSession) throws -> Void) throws {
        let pool = PGPool(settings: self, size: 1, logger: .init(label: "switchboard.store.postgres"))
        defer { pool.close() }
        try pool.with(body)
    }

    /// Database names are identifiers, not values: only a conservative alphabet gets through.
    private static func identifier(_ name: String) throws -> String {
        guard !name.isEmpty, name.count < 60, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw StoreError("\"\(name)\" is not a usable database name (letters, digits and _ only)")
        }
        return name
    }
}
