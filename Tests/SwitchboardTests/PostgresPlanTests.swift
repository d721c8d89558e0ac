import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// The queue's batch statements cost the same however large the tables grow: they read the key
/// indexes, never a whole table, even where the planner's statistics would choose a full scan.
@Suite struct PostgresPlanTests {
    @Test func aBatchLedgerLookupReadsTheKeyIndexNotTheTable() throws {
        let store = try TestPostgres.freshStore()
        try TestPostgres.sql(store, """
            INSERT INTO ledger SELECT 't|wf|' || g, 't', 'erp', 'Account', 'C-' || g, 0 FROM generate_series(1, 20000) g
            """)
        // With these statistics the planner prices 1,000 keys out of 20,000 rows as a sequential scan.
        try TestPostgres.sql(store, "ANALYZE ledger")
        let keys = (1...1000).map { "t|wf|\($0 * 7)" }
        let (found, scans) = try store.pool.transaction { db in
            // This session's counts not yet reported (earlier statements on it included): the difference is the lookup's.
            func seqScans() throws -> Int64 {
                try db.query("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'ledger'")[0].int(0)
            }
            let before = try seqScans()
            let found = try PostgresStore.ledger(keys: keys, hashedRowsExist: false, db: db)
            return (found, try seqScans() - before)
        }
        #expect(found.count == 1000 && found["t|wf|7"]?.externalID == "C-7")
        #expect(scans == 0, "the lookup read the whole ledger")
    }
}
