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

    @Test func askingWhetherWorkIsLeftReadsTheQueueIndexesNotTheHistory() throws {
        let store = try TestPostgres.freshStore()
        try TestPostgres.sql(store, """
            INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, received_at)
            VALUES ('t', 'crm', 'record.Account', 'Account', 'A1', 'k-1', '\\x7b7d', 0)
            """)
        // A long history of finished items, and the backlog being worked on at its end: where a sequential scan finds
        // it last. With these statistics the planner expects to meet a pending row soon and prices a scan lower.
        try TestPostgres.sql(store, """
            INSERT INTO work (event_id, tenant, workflow, ordering_key, status, attempts, next_attempt_at, created_at)
            SELECT (SELECT id FROM events), 't', 'wf', 'k-' || g, CASE WHEN g > 19000 THEN 'pending' ELSE 'done' END, 1, 0, 0
            FROM generate_series(1, 20000) g
            """)
        try TestPostgres.sql(store, "ANALYZE work")
        let (unfinished, scans) = try store.pool.transaction { db in
            func seqScans() throws -> Int64 {
                try db.query("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'work'")[0].int(0)
            }
            let before = try seqScans()
            let unfinished = try PostgresStore.hasUnfinishedWork(db: db)
            return (unfinished, try seqScans() - before)
        }
        #expect(unfinished)
        #expect(scans == 0, "the question read the whole work table")
        #expect(try store.hasUnfinishedWork())
    }
}
