import CSQLite
import Foundation
import SwitchboardCore
@testable import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// A store written by an earlier release opens under this one with nothing lost: queued work still runs,
/// and writes recorded in the ledger under the earlier, hashed key form are still found (no second write).
@Suite struct StoreUpgradeTests {
    /// A ledger key as this release forms it, and the form earlier releases stored.
    static let key = "t|wf|2|record.Account|crm|A1"
    static let hashedKey = StoreShared.hashedLedgerKey(key)

    @Test func sqliteStoreFromSchemaV3Migrates() throws {
        let path = TestEnv.tempDir("sbupgrade") + "/store.db"
        // What the release with schema v3 left behind: a pending item, a write in the ledger, xref rows.
        var script = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
        for (version, sql) in Migrations.all where version <= 3 {
            script += sql + ";INSERT INTO schema_migrations VALUES (\(version), 0);"
        }
        script += """
            INSERT INTO events (id, tenant, source, type, entity, external_id, dedupe_key, payload, received_at)
                VALUES (1, 't', 'crm', 'record.Account', 'Account', 'A1', 'k-1', x'7b7d', 0);
            INSERT INTO work (id, event_id, tenant, workflow, status, attempts, next_attempt_at, created_at)
                VALUES (1, 1, 't', 'wf', 'pending', 0, 0, 0);
            INSERT INTO ledger VALUES ('\(Self.hashedKey)', 't', 'erp', 'Account', 'C-1', 0);
            INSERT INTO xref VALUES ('t', 'Account', 'account_0123456789abcdef0123', 'crm', 'A1', NULL, 0);
            INSERT INTO xref VALUES ('t', 'Account', 'account_0123456789abcdef0123', 'erp', 'C-1', x'01', 0);
            """
        StoreTests.sql(path, script)

        let store = try SQLiteStore(path: path)
        #expect(try store.ledger(keys: [Self.key, "t|wf|2|record.Account|crm|A2"]).mapValues(\.externalID) == [Self.key: "C-1"],
                "a write recorded under the hashed key is found by its readable key")
        let ids = try store.xref(tenant: "t", entity: "Account", canonicalID: "account_0123456789abcdef0123")
        #expect(ids.map(\.externalID) == ["A1", "C-1"] && ids[1].content == [1])
        let claimed = try store.claim(limit: 10, now: 1, leaseMillis: 1000)
        #expect(claimed.map(\.id) == [1], "work queued before the upgrade still runs")
        try store.finish([WorkOutcome(workID: 1, disposition: .done,
                                      ledger: [LedgerEntry(key: "t|wf|2|record.Account|crm|A2", tenant: "t", connection: "erp",
                                                           entity: "Account", externalID: "C-2")])], now: 2)
        #expect(try store.ledger(keys: ["t|wf|2|record.Account|crm|A2"]).mapValues(\.externalID) == ["t|wf|2|record.Account|crm|A2": "C-2"])
        #expect(try store.stats(tenant: "t").done == 1)
    }

    @Test func postgresStoreFromSchemaV1Migrates() throws {
        let store = try TestPostgres.freshStore()
        // Back to what the release with schema v1 left: no store_meta, a write in the ledger under its hashed key.
        try TestPostgres.sql(store, "DROP TABLE store_meta")
        try TestPostgres.sql(store, "CREATE INDEX events_by_record ON events(tenant, entity, external_id)")
        try TestPostgres.sql(store, "ALTER TABLE work ADD CONSTRAINT work_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id)")
        try TestPostgres.sql(store, "DELETE FROM schema_migrations WHERE version IN (2, 4)")
        try TestPostgres.sql(store, "INSERT INTO ledger VALUES ('\(Self.hashedKey)', 't', 'erp', 'Account', 'C-1', 0)")
        let upgraded = try PostgresStore(settings: store.settings, hostID: "upgraded")
        #expect(try upgraded.ledger(keys: [Self.key, "t|wf|2|record.Account|crm|A2"]).mapValues(\.externalID) == [Self.key: "C-1"])
        let foreignKeys = try upgraded.pool.with { db in
            try db.query("SELECT count(*)::bigint FROM pg_constraint WHERE conrelid = 'work'::regclass AND contype = 'f'")[0].int(0)
        }
        #expect(foreignKeys == 0, "v4 drops the per-row foreign-key check on work.event_id")
    }
}
