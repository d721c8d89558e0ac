import CSQLite
import Foundation
import SwitchboardCore
import SwitchboardStore
import Testing

/// The SQLite store against a real database file.
@Suite struct StoreTests {
    func freshStore() throws -> SQLiteStore { try SQLiteStore(path: TestEnv.tempDir("sbstore") + "/store.db") }

    func event(_ id: String, key: String? = nil, workflows: [String] = ["wf"]) -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "record.Account", entity: "Account", externalID: id, dedupeKey: key ?? "k-\(id)",
                 payload: Array(#"{"external_id":"\#(id)"}"#.utf8), amount: "10.00", currency: "EUR", workflows: workflows)
    }

    @Test func ingestIsAtomicWithItsCursorAndDropsRedeliveries() throws {
        let store = try freshStore()
        var batch = IngestBatch(events: [event("1"), event("2"), event("1")])
        batch.cursor = ("t", "crm", "accounts", Array(#"{"next":2}"#.utf8))
        let outcome = try store.ingest(batch, now: 1000)
        #expect(outcome == IngestOutcome(inserted: 2, duplicates: 1, rejected: 0))
        #expect(try store.cursor(tenant: "t", connection: "crm", stream: "accounts") == Array(#"{"next":2}"#.utf8))
        // A failing unit rolls back alone: its cursor does not move.
        var bad = IngestBatch(events: [event("3")])
        bad.cursor = ("t", "crm", "accounts", Array(#"{"next":3}"#.utf8))
        bad.rejected = [RejectedRecord(tenant: "t", source: "crm", type: "record.Account", entity: "Account", externalID: "4",
                                       payload: [], reason: "schema_invalid", diagnostics: [Diagnostic("x", fieldPath: "name")])]
        #expect(try store.ingest(bad, now: 1001).inserted == 1)
        #expect(try store.hasUnfinishedWork())
        #expect(try store.exceptions(ExceptionFilter()).map(\.reason) == ["schema_invalid"])
    }

    @Test func claimLeasesAndExpiredLeasesAreRecovered() throws {
        let store = try freshStore()
        _ = try store.ingest(IngestBatch(events: [event("1"), event("2")]), now: 1000)
        let first = try store.claim(limit: 10, now: 1000, leaseMillis: 500)
        #expect(first.count == 2)
        #expect(try store.claim(limit: 10, now: 1200, leaseMillis: 500).isEmpty, "leased items are not handed out twice")
        // The worker died: after the lease another worker takes them.
        let recovered = try store.claim(limit: 10, now: 1600, leaseMillis: 500)
        #expect(Set(recovered.map(\.id)) == Set(first.map(\.id)))
        try store.finish([WorkOutcome(workID: recovered[0].id, disposition: .done,
                                      ledger: [LedgerEntry(key: "idem-1", tenant: "t", connection: "erp", entity: "Account", externalID: "C-1")]),
                          WorkOutcome(workID: recovered[1].id, disposition: .retry(at: 5000, status: .retry),
                                      diagnostics: [Diagnostic("busy")])], now: 1700)
        #expect(try store.ledger(keys: ["idem-1", "idem-2"]) == ["idem-1": "C-1"])
        #expect(try store.claim(limit: 10, now: 4999, leaseMillis: 500).isEmpty, "not due yet")
        let retried = try store.claim(limit: 10, now: 5000, leaseMillis: 500)
        #expect(retried.map(\.attempts) == [1])
    }

    @Test func exceptionActionsAreAuditedAndTheChainVerifies() throws {
        let store = try freshStore()
        _ = try store.ingest(IngestBatch(events: [event("1"), event("2")]), now: 1000)
        let items = try store.claim(limit: 10, now: 1000, leaseMillis: 500)
        try store.finish(items.map { WorkOutcome(workID: $0.id, disposition: .exception(reason: "fatal"), connection: "erp",
                                                 diagnostics: [Diagnostic("rejected", fieldPath: "name")]) }, now: 1100)
        let open = try store.exceptions(ExceptionFilter(tenant: "t"))
        #expect(open.count == 2)
        #expect(open[0].amount == "10.00" && open[0].currency == "EUR" && open[0].attempts == 1)
        _ = try store.assignException(id: open[0].id, to: "alice", actor: "bob", now: 1200)
        _ = try store.retryExceptions(ids: [open[0].id], actor: "bob", reason: "fixed mapping", now: 1300)
        _ = try store.discardException(id: open[1].id, actor: "bob", reason: "duplicate", now: 1400)
        #expect(throws: StoreError.self) { try store.discardException(id: open[1].id, actor: "bob", reason: "again", now: 1500) }
        #expect(try store.claim(limit: 10, now: 1300, leaseMillis: 500).map(\.id) == [open[0].workID!], "a retried item is queued again")
        let trail = try store.auditEntries(limit: 10)
        #expect(trail.map(\.action) == ["exception.assign", "exception.retry", "exception.discard"])
        #expect(trail.allSatisfy { $0.actor == "bob" })
        #expect(try store.verifyAudit().ok)
    }

    /// Runs SQL on the file directly, as someone editing the database behind Switchboard's back would.
    static func sql(_ path: String, _ statement: String) {
        var db: OpaquePointer?
        sqlite3_open(path, &db)
        sqlite3_busy_timeout(db, 10_000)
        let rc = sqlite3_exec(db, statement, nil, nil, nil)
        sqlite3_close(db)
        #expect(rc == SQLITE_OK, "\(statement) failed: \(rc)")
    }

    func tamper(_ store: SQLiteStore, _ sql: String) { Self.sql(store.path, sql) }

    @Test(arguments: [
        ("UPDATE audit SET detail = 'nothing to see' WHERE seq = 2", "row 2: content does not match its hash (edited)"),
        ("DELETE FROM audit WHERE seq = 2", "row 2 is missing (deleted)"),
        ("DELETE FROM audit WHERE seq = 3", "rows deleted at the end"),
        ("UPDATE audit SET actor = 'mallory', hash = 'x' WHERE seq = 1", "row 1: content does not match its hash (edited)"),
    ])
    func verifyDetectsTampering(sql: String, finding: String) throws {
        let store = try freshStore()
        for i in 1...3 { try store.audit(actor: "ops", action: "test.\(i)", target: "x", detail: "d\(i)", now: Int64(i)) }
        #expect(try store.verifyAudit().ok)
        tamper(store, sql)
        let report = try store.verifyAudit()
        #expect(!report.ok)
        #expect(report.problems.contains { $0.contains(finding) }, "\(report.problems)")
    }

    @Test func migrationsAreVersionedAndANewerStoreIsRefused() throws {
        let path = TestEnv.tempDir("sbstore") + "/store.db"
        _ = try SQLiteStore(path: path)
        _ = try SQLiteStore(path: path)  // reopening applies nothing twice
        Self.sql(path, "INSERT INTO schema_migrations VALUES (99, 0)")
        #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path) }
    }
}
