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
