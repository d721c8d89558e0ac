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

    /// The queue's statements are prepared once per connection and run a generic plan from the first batch on
    /// (PGSession.queryPrepared). That plan is made without the batch's values, so it must still be one that
    /// reads indexes: a long history of finished items and statistics that price a scan lower must not make
    /// any claim or finish read the whole table.
    @Test func claimsAndFinishesRunPreparedGenericPlansThatReadIndexes() throws {
        let store = try TestPostgres.freshStore()
        try TestPostgres.sql(store, """
            INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, received_at)
            SELECT 't', 'crm', 'record.Account', 'Account', 'A' || g, 'k-' || g, '\\x7b7d', 0 FROM generate_series(1, 20600) g
            """)
        try TestPostgres.sql(store, """
            INSERT INTO work (event_id, tenant, workflow, ordering_key, status, attempts, next_attempt_at, created_at)
            SELECT id, 't', 'wf', 'key-' || id, CASE WHEN id > 20000 THEN 'pending' ELSE 'done' END, 1, 0, 0 FROM events
            """)
        try TestPostgres.sql(store, "ANALYZE")
        // One caller at a time: the pool hands back the session it used last, so every batch below runs on one
        // connection, whose prepared statements and statistics this test reads.
        func seqScans() throws -> [String: Int64] {
            try store.pool.with { db in
                _ = try db.query("SELECT pg_stat_force_next_flush()")
                return try Dictionary(uniqueKeysWithValues: db.query("""
                    SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname IN ('work', 'events', 'ledger', 'xref')
                    """).map { (try $0.text(0), try $0.int(1)) })
            }
        }
        let before = try seqScans()
        var claimed = 0
        // More batches than the five PostgreSQL plans with the values before it may switch to a generic plan.
        for batch in 0..<6 {
            let items = try store.claim(limit: 100, now: 1000, leaseMillis: 30_000)
            claimed += items.count
            try store.finish(items.map { item in
                WorkOutcome(workID: item.id, disposition: .done, steps: [StepTiming(step: "write", millis: 1, status: "OK")],
                            ledger: [LedgerEntry(key: "t|wf|\(item.id)", tenant: "t", connection: "erp", entity: "Account",
                                                 externalID: "E-\(item.id)", eventID: item.eventID, expectedNew: true)],
                            xref: [XrefKey(tenant: "t", entity: "Account", canonicalID: "c-\(item.id)", connection: "erp",
                                           externalID: "E-\(item.id)", content: nil, expectedNew: true)])
            }, now: 1000 + Int64(batch))
        }
        let after = try seqScans()
        #expect(claimed == 600)
        #expect(try !store.hasUnfinishedWork())
        for table in ["work", "events", "ledger", "xref"] {
            #expect(after[table] == before[table], "a prepared statement read the whole \(table) table")
        }
        // The claim and the finish ran as prepared statements, on generic plans only.
        let plans = try store.pool.with { db in
            try db.query("""
                SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
                WHERE statement LIKE '%UPDATE work SET status = ''running''%' OR statement LIKE '%UPDATE work SET status = ''done''%'
                """).map { (try $0.text(0), try $0.int(1), try $0.int(2)) }
        }
        #expect(plans.count == 2)
        #expect(plans.allSatisfy { $0.1 >= 6 && $0.2 == 0 }, "\(plans.map { ($0.1, $0.2) })")
    }

    /// A schema change by another host (a migration adding a column) can change what a prepared statement
    /// returns; PostgreSQL then refuses it. That one use fails; the statement is prepared again on the next.
    @Test func aPreparedStatementWhoseResultChangedIsPreparedAgain() throws {
        let store = try TestPostgres.freshStore()
        try TestPostgres.sql(store, "CREATE TABLE shape (a bigint)")
        try TestPostgres.sql(store, "INSERT INTO shape VALUES (7)")
        let select = "SELECT * FROM shape WHERE a = $1::bigint"
        try store.pool.with { db in
            #expect(try db.queryPrepared(select, [.int(7)]).count == 1)
            _ = try db.run("ALTER TABLE shape ADD COLUMN b text DEFAULT 'x'")
            #expect(throws: (any Error).self) { try db.queryPrepared(select, [.int(7)]) }
            let again = try db.queryPrepared(select, [.int(7)])
            #expect(try again.count == 1 && again[0].text(1) == "x")
        }
    }
}
