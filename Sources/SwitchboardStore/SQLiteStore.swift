import Foundation
import SwitchboardCore

/// The embedded default store: one SQLite file per installation, WAL mode,
/// fsync on every commit (synchronous=FULL), one group-committing writer and
/// a separate read connection.
public final class SQLiteStore: IntegrationStore, @unchecked Sendable {
    public let path: String
    let writer: GroupCommit
    private let writeConnection: SQLiteConnection
    /// Read connections, one per concurrent reader (WAL: readers never block each other or the writer).
    private var idleReaders: [SQLiteConnection] = []
    private let readLock = Lock()
    /// The ledger holds rows under hashed keys (written before schema v4).
    let ledgerHasHashedKeys: Bool
    /// The leases of this process's claims (an embedded store has one host, so they need no row writes).
    let leases = InProcessLeases()

    /// Opens (creating and migrating as needed) the store at `path`.
    /// `durable: false` turns fsync off (tests of logic only; never in production).
    public init(path: String, durable: Bool = true) throws {
        self.path = path
        writeConnection = try SQLiteConnection(path: path)
        try writeConnection.exec("PRAGMA journal_mode=WAL")
        try writeConnection.exec("PRAGMA synchronous=\(durable ? "FULL" : "OFF")")
        try writeConnection.exec("PRAGMA foreign_keys=ON")
        // Memory-mapped reads: no copy through read(2) for every page of every query.
        try writeConnection.exec("PRAGMA mmap_size=1073741824")
        try writeConnection.exec("PRAGMA cache_size=-65536")
        try Self.migrate(writeConnection)
        ledgerHasHashedKeys = try !writeConnection.query("SELECT 1 FROM store_meta WHERE key = 'ledger_hashed_keys'") { $0.int(0) }.isEmpty
        writer = GroupCommit(connection: writeConnection)
    }

    deinit { writer.stop() }

    /// Opens a store from a URL: `sqlite:PATH` (the default kind).
    public static func open(url: String) throws -> SQLiteStore {
        guard url.hasPrefix("sqlite:") else { throw StoreError("unsupported store URL \"\(url)\" (expected sqlite:PATH)") }
        return try SQLiteStore(path: String(url.dropFirst("sqlite:".count)))
    }

    /// The schema version this build expects.
    public static var schemaVersion: Int { Migrations.all.last?.version ?? 0 }

    static func migrate(_ db: SQLiteConnection) throws {
        try db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let applied = Set(try db.query("SELECT version FROM schema_migrations") { Int($0.int(0)) })
        if let newest = applied.max(), newest > schemaVersion {
            throw StoreError("the store at \(db.path) has schema version \(newest); this build knows up to \(schemaVersion): upgrade Switchboard")
        }
        for (version, sql) in Migrations.all where !applied.contains(version) {
            try db.exec("BEGIN IMMEDIATE")
            do {
                try db.exec(sql)
                try db.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", .int(Int64(version)), .int(Clock.nowMillis()))
                try db.exec("COMMIT")
            } catch {
                try? db.exec("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs a read on a pooled read connection (WAL: never blocked by the writer).
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try readLock.withLock { () throws -> SQLiteConnection in
            if let idle = idleReaders.popLast() { return idle }
            let fresh = try SQLiteConnection(path: path)
            try fresh.exec("PRAGMA mmap_size=1073741824")
            try fresh.exec("PRAGMA cache_size=-16384")
            return fresh
        }
        defer { readLock.withLock { idleReaders.append(connection) } }
        return try body(connection)
    }
}
