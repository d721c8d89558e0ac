import Foundation
import Logging
import SwitchboardCore
import SwitchboardStore

/// The store for several hosts: one PostgreSQL database shared by every host
/// process (docs/STORE-POSTGRES.md). Same protocol and guarantees as the
/// embedded SQLite store; claims use `FOR UPDATE SKIP LOCKED`, leases name
/// their host and are renewed by a heartbeat, one host at a time holds the
/// scheduler's advisory lock.
public final class PostgresStore: IntegrationStore, @unchecked Sendable {
    public let settings: PostgresSettings
    public let hostID: String
    let pool: PGPool
    let scheduler: SchedulerLock
    /// Where this host's held claims start (PostgresStore+HeldClaims).
    let holdFrontier = HoldFrontier()
    let logger: Logger
    /// The ledger holds rows under hashed keys (written before schema v2); set once, while opening.
    private(set) var ledgerHasHashedKeys = false

    /// Advisory lock keys (one namespace per purpose).
    static let migrationLockKey: Int64 = 0x5357_4244_0001
    static let schedulerLockKey: Int64 = 0x5357_4244_0002

    /// Connects (pool of `poolSize` sessions) and migrates the schema.
    public init(settings: PostgresSettings, hostID: String = PostgresStore.defaultHostID(), poolSize: Int = 6,
                logger: Logger = Logger(label: "switchboard.store.postgres")) throws {
        self.settings = settings
        self.hostID = hostID
        self.logger = logger
        pool = PGPool(settings: settings, size: poolSize, logger: logger)
        scheduler = SchedulerLock(pool: pool, key: Self.schedulerLockKey, hostID: hostID)
        do {
            try migrate()
            ledgerHasHashedKeys = try pool.with { db in
                try !db.query("SELECT 1::bigint FROM store_meta WHERE key = 'ledger_hashed_keys'").isEmpty
            }
        } catch {
            pool.close()
            throw error
        }
        // Who ran the scheduler, and since when, is part of the audit trail.
        let host = hostID
        scheduler.onAcquire = { [weak self] in
            try? self?.audit(actor: "host:\(host)", action: "scheduler.acquired", target: "scheduler", detail: "", now: Clock.nowMillis())
        }
        scheduler.onTakeOver = { [weak self] holder, silent in
            try? self?.audit(actor: "host:\(host)", action: "scheduler.taken_over", target: "scheduler",
                             detail: "ended the session of \(holder): no sign of life from its poller for \(silent / 1000) s", now: Clock.nowMillis())
        }
    }

    deinit {
        scheduler.release()
        pool.close()
    }

    /// Opens every connection of the pool now, as a host does when it starts: a connection costs the server a
    /// process and an authentication (SCRAM), which belong to start-up rather than to the first batches, and a
    /// database that cannot give the host its connections fails the start instead of a batch.
    public func openPool() throws {
        try pool.fill()
    }

    /// Opens a store from a URL (`postgres://USER@HOST:PORT/DB`); the password comes from the environment.
    public static func open(url: String, hostID: String = PostgresStore.defaultHostID()) throws -> PostgresStore {
        try PostgresStore(settings: PostgresSettings(url: url), hostID: hostID)
    }

    /// `SWITCHBOARD_HOST_ID`, else hostname-pid: unique per process, so a restarted host never mistakes old leases for its own.
    public static func defaultHostID() -> String {
        if let id = ProcessInfo.processInfo.environment["SWITCHBOARD_HOST_ID"], !id.isEmpty { return id }
        return "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    public static var schemaVersion: Int { PostgresMigrations.all.last?.version ?? 0 }

    private func migrate() throws {
        try pool.transaction { db in
            // Transaction-scoped: released at COMMIT, whoever got here first migrated.
            try db.run("SELECT pg_advisory_xact_lock($1)", [.int(Self.migrationLockKey)])
            try db.run("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)")
            let applied = Set(try db.query("SELECT version::bigint FROM schema_migrations").map { Int(try $0.int(0)) })
            if let newest = applied.max(), newest > Self.schemaVersion {
                throw StoreError("the store at \(settings.redactedURL) has schema version \(newest); this build knows up to \(Self.schemaVersion): upgrade Switchboard")
            }
            for (version, sql) in PostgresMigrations.all where !applied.contains(version) {
                // Statement by statement (the extended protocol takes one at a time); same transaction.
                for statement in PostgresMigrations.statements(sql) {
                    try db.run(statement)
                }
                try db.run("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [.int(Int64(version)), .int(Clock.nowMillis())])
            }
        }
    }

    /// How many expired leases other claims took over since the store was created (the kill test's evidence).
    public func leaseRecoveries() throws -> Int {
        try sweepLostHolds()
        return try pool.with { db in Int(try db.query("SELECT COALESCE(SUM(lease_recoveries), 0)::bigint FROM work")[0].int(0)) }
    }

    /// The hosts that held the scheduler, in order (from the audit trail).
    public func schedulerHistory() throws -> [String] {
        try pool.with { db in
            try db.query("SELECT actor FROM audit WHERE action = 'scheduler.acquired' ORDER BY seq").map { try $0.text(0) }
        }
    }
}

extension PostgresStore: HostCoordination {
    public func renewLeases(ids: [Int64], now: Millis, leaseMillis: Millis) throws -> Int {
        // Held batches of sessions that are gone are counted as taken over (every host's heartbeat does it).
        do { try sweepLostHolds() } catch { logger.warning("cannot sweep lost holds", metadata: ["error": "\(error)"]) }
        guard !ids.isEmpty else { return 0 }
        return try pool.with { db in
            try db.run("UPDATE work SET lease_until = $1 WHERE id = ANY($3) AND status = 'running' AND lease_owner = $2",
                       [.int(now + leaseMillis), .text(hostID), .ints(ids)])
        }
    }

    public func holdsSchedulerLock(takeOverAfterMillis: Millis?) -> Bool { scheduler.holds(takeOverAfterMillis: takeOverAfterMillis) }
}

extension PostgresStore: InterruptibleStore {
    public func interruptStatements() { pool.interruptAll() }
}
