import Foundation
import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// The PostgreSQL cluster scripts/start-postgres started (scripts/test starts it for every run):
/// each test gets a database of its own, so tests run in parallel without seeing each other's rows.
enum TestPostgres {
    static var url: String? { ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_URL"] }
    static var passwordFile: String? { ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_PASSWORD_FILE"] }

    /// The environment a host process needs to reach the test cluster.
    static var hostEnvironment: [String: String] {
        var env: [String: String] = [:]
        if let passwordFile { env["SWITCHBOARD_STORE_PASSWORD_FILE"] = passwordFile }
        return env
    }

    static func settings(database: String? = nil) throws -> PostgresSettings {
        guard let url, let passwordFile else {
            throw StoreError("no PostgreSQL for the tests: run `scripts/start-postgres` and export what it prints (scripts/test does)")
        }
        var settings = try PostgresSettings(url: url, environment: ["SWITCHBOARD_STORE_PASSWORD_FILE": passwordFile])
        if let database { settings.database = database }
        return settings
    }

    /// Creates an empty database and returns its store URL.
    static func freshDatabase(_ label: String = "t") throws -> String {
        let name = "sb_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        try settings().createDatabase(name)
        return try settings(database: name).redactedURL
    }

    /// A store on a fresh database (one host).
    static func freshStore(hostID: String = "host-a") throws -> PostgresStore {
        try store(url: try freshDatabase(), hostID: hostID)
    }

    /// Another host's view of a database made by `freshDatabase`.
    static func store(url: String, hostID: String) throws -> PostgresStore {
        try PostgresStore(settings: try settings(database: URL(string: url)!.lastPathComponent), hostID: hostID)
    }

    /// Runs SQL behind the store's back (tampering tests).
    static func sql(_ store: PostgresStore, _ statement: String) throws {
        try store.pool.with { db in _ = try db.run(statement) }
    }
}

/// The store suite runs against both backends.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    /// PostgreSQL with every statement sent unnamed (`prepared_statements=off`, for poolers in transaction mode).
    case postgresUnprepared = "postgres, prepared_statements=off"
    var testDescription: String { rawValue }

    func freshStore() throws -> any FullStore {
        switch self {
        case .sqlite: return try SQLiteStore(path: TestEnv.tempDir("sbstore") + "/store.db")
        case .postgres: return try TestPostgres.freshStore()
        case .postgresUnprepared:
            let settings = try PostgresSettings(url: try TestPostgres.freshDatabase() + "?prepared_statements=off",
                                                environment: ["SWITCHBOARD_STORE_PASSWORD_FILE": TestPostgres.passwordFile ?? ""])
            #expect(!settings.preparesStatements && settings.redactedURL.hasSuffix("?prepared_statements=off"))
            return try PostgresStore(settings: settings, hostID: "host-a")
        }
    }

    /// Runs SQL directly on the store's database, as someone editing it behind Switchboard's back would.
    static func tamper(_ store: any FullStore, _ sql: String) throws {
        if let sqlite = store as? SQLiteStore { StoreTests.sql(sqlite.path, sql) }
        else if let postgres = store as? PostgresStore { try TestPostgres.sql(postgres, sql) }
    }
}
