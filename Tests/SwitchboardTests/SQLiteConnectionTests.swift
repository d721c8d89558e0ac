import Foundation
import Testing
@testable import SwitchboardStore

/// The SQLite connection wrapper under the store.
@Suite struct SQLiteConnectionTests {
    /// SQL text built from values would cache one prepared statement per value, for the life of the process;
    /// the cache is bounded instead, and a statement in use when it starts over stays valid.
    @Test func theStatementCacheIsBoundedAndStatementsInUseSurviveIt() throws {
        let db = try SQLiteConnection(path: TestEnv.tempDir("sbconn") + "/c.db")
        let cap = SQLiteConnection.maxCachedStatements
        for i in 0..<(cap * 3) {
            #expect(try db.query("SELECT \(i)") { $0.int(0) } == [Int64(i)])
        }
        #expect(db.cachedStatements <= cap)
        #expect(db.cachedStatements > 0)
        let rows = try db.query("SELECT 1 UNION ALL SELECT 2") { row -> Int64 in
            // Enough new statements to make the cache start over while the outer one is mid-flight.
            for j in 0..<cap { _ = try db.query("SELECT \(j) + 100000") { $0.int(0) } }
            return row.int(0)
        }
        #expect(rows == [1, 2])
        #expect(db.cachedStatements <= cap)
    }
}

/// The store writer runs each unit of a group commit in a savepoint, which journals every existing page the unit
/// changes. Those journals stay in memory: with SQLite's default 64 KiB limit a worker batch's finish spilled to a
/// temporary file (written, truncated and deleted again) on every commit.
@Suite struct SQLiteJournalTests {
    @Test func aLargeUnitJournalsItsPagesInMemoryNotInATemporaryFile() async {
        // In a process of its own: other tests' SQLite connections in this one may hold temporary files of their own.
        await #expect(processExitsWith: .success) {
            let store = try SQLiteStore(path: TestEnv.tempDir("sbjournal") + "/j.db", durable: false)
            let value = [UInt8](repeating: 0x61, count: 1000)
            try store.writer.write { db in
                for i in 0..<2000 {
                    try db.run("INSERT INTO kv (tenant, connection, key, value, updated_at) VALUES ('t', 'c', ?, ?, 0)", .text("k\(i)"), .blob(value))
                }
            }
            let temporaryFiles = try store.writer.write { db -> [String] in
                // About 2 MB of existing pages changed inside this unit's savepoint.
                guard try db.run("UPDATE kv SET value = ?, updated_at = 1", .blob([UInt8](repeating: 0x62, count: 1000))) == 2000 else { exit(2) }
                return SQLiteJournalTests.openFiles().filter { $0.contains("etilqs_") }
            }
            if !temporaryFiles.isEmpty {
                print("SQLite spilled a journal to \(temporaryFiles)")
                exit(1)
            }
        }
    }

    /// What this process's file descriptors point at (a deleted temporary file still shows, marked "(deleted)").
    static func openFiles() -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
    }
}
