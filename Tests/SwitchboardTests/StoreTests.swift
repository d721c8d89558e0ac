import CSQLite
import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardStorePostgres
import Testing

/// The store contract (docs/STORE.md) against both backends: a real SQLite file and a real PostgreSQL database.
@Suite struct StoreTests {

    func event(_ id: String, key: String? = nil, workflows: [String] = ["wf"]) -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "record.Account", entity: "Account", externalID: id, dedupeKey: key ?? "k-\(id)",
                 payload: Array(#"{"external_id":"\#(id)"}"#.utf8), amount: "10.00", currency: "EUR", workflows: workflows)
    }

    /// A fresh store whose `count` items (events "1", "2", ...) are claimed, in order.
    func claimedItems(_ count: Int, on backend: StoreBackend, leaseMillis: Millis) throws -> (any FullStore, [ClaimedWork]) {
        let store = try backend.freshStore()
        _ = try store.ingest(IngestBatch(events: (1...count).map { event("\($0)") }), now: 1000)
        let items = try store.claim(limit: count + 10, now: 1000, leaseMillis: leaseMillis)
        try #require(items.count == count)
        return (store, items)
    }

    @Test(arguments: StoreBackend.allCases)
    func ingestIsAtomicWithItsCursorAndDropsRedeliveries(backend: StoreBackend) throws {
        let store = try backend.freshStore()
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

    /// Batches are written many rows per statement: a batch larger than one statement keeps the events' order, the
    /// first delivery of a key (a redelivery later in the batch is dropped, also across statements), and rows for one
    /// key in one batch apply in order, as one by one.
    @Test(arguments: StoreBackend.allCases)
    func aLargeBatchKeepsItsOrderItsFirstDeliveriesAndItsLastWrites(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        var events = (0..<150).map { event("e\($0)") }
        events[100] = event("redelivered", key: "k-e5")
        #expect(try store.ingest(IngestBatch(events: events), now: 1000) == IngestOutcome(inserted: 149, duplicates: 1, rejected: 0))
        let claimed = try store.claim(limit: 200, now: 1000, leaseMillis: 60_000)
        let expected = (0..<150).filter { $0 != 100 }.map { "e\($0)" }
        #expect(claimed.map(\.event.externalID) == expected, "fresh items are due in the order they were made")
        #expect(claimed.first { $0.event.dedupeKey == "k-e5" }?.event.externalID == "e5")
        let outcomes = claimed.enumerated().map { i, item in
            var xref = [XrefKey(tenant: "t", entity: "Account", canonicalID: "c-\(i)", connection: "erp", externalID: "X-\(i)", content: nil)]
            if i == 0 {
                xref.append(XrefKey(tenant: "t", entity: "Account", canonicalID: "c-last", connection: "erp", externalID: "X-0", content: nil))
            }
            return WorkOutcome(workID: item.id, disposition: .done, steps: [StepTiming(step: "write", millis: 1, status: "OK", detail: "\(i)")],
                               ledger: [LedgerEntry(key: "L-\(i)", tenant: "t", connection: "erp", entity: "Account", externalID: "X-\(i)")],
                               xref: xref)
        }
        try store.finish(outcomes, now: 2000)
        let ledger = try store.ledger(keys: (0..<149).map { "L-\($0)" })
        #expect(ledger.count == 149)
        #expect(ledger["L-148"]?.externalID == "X-148")
        #expect(try store.xref(tenant: "t", entity: "Account", connection: "erp", externalID: "X-0")?.canonicalID == "c-last")
        #expect(try store.xref(tenant: "t", entity: "Account", connection: "erp", externalID: "X-148")?.canonicalID == "c-148")
        let stats = try store.stats(tenant: "t")
        #expect(stats.done == 149 && stats.pending == 0 && stats.running == 0)
        #expect(try !store.hasUnfinishedWork())
    }

    @Test(arguments: StoreBackend.allCases)
    func claimLeasesAndExpiredLeasesAreRecovered(backend: StoreBackend) throws {
        let store = try backend.freshStore()
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
        #expect(try store.ledger(keys: ["idem-1", "idem-2"]).mapValues(\.externalID) == ["idem-1": "C-1"])
        #expect(try store.claim(limit: 10, now: 4999, leaseMillis: 500).isEmpty, "not due yet")
        let retried = try store.claim(limit: 10, now: 5000, leaseMillis: 500)
        #expect(retried.map(\.attempts) == [1])
    }

    /// A claimed batch comes oldest due first (ties by item id), whatever order the items were made in: items
    /// retried to different times come back in the order of those times.
    @Test(arguments: StoreBackend.allCases)
    func aClaimedBatchComesInDueOrder(backend: StoreBackend) throws {
        let (store, items) = try claimedItems(8, on: backend, leaseMillis: 500)
        // Later items retry sooner; two share a time, so the tie falls to the id.
        let due: [Millis] = [9000, 8000, 7000, 6000, 5000, 4000, 4000, 3000]
        try store.finish(zip(items, due).map { item, at in
            WorkOutcome(workID: item.id, disposition: .retry(at: at, status: .retry), diagnostics: [Diagnostic("busy")])
        }, now: 1100)
        let retried = try store.claim(limit: 20, now: 9000, leaseMillis: 500)
        let expected = zip(items, due).sorted { ($0.1, $0.0.id) < ($1.1, $1.0.id) }.map(\.0.id)
        #expect(retried.map(\.id) == expected)
        #expect(retried.map(\.event.externalID) == ["8", "6", "7", "5", "4", "3", "2", "1"])
    }

    /// A record's ledger row keeps its first external id and the newest event written: a later version moves the
    /// event on, an older one (run late by a host that lost its lease) does not move it back; a business event's
    /// row (no event) stays as first written.
    @Test(arguments: StoreBackend.allCases)
    func aRecordsLedgerRowKeepsTheNewestEventWritten(backend: StoreBackend) throws {
        let (store, items) = try claimedItems(4, on: backend, leaseMillis: 5000)
        func write(_ item: ClaimedWork, _ key: String, _ id: String, event: Int64?) throws {
            try store.finish([WorkOutcome(workID: item.id, disposition: .done,
                                          ledger: [LedgerEntry(key: key, tenant: "t", connection: "erp", entity: "Account", externalID: id,
                                                               eventID: event)])], now: 1100)
        }
        try write(items[0], "record", "C-1", event: 20)
        #expect(try store.ledger(keys: ["record"]) == ["record": LedgerWrite(externalID: "C-1", eventID: 20)])
        try write(items[1], "record", "C-other", event: 30)
        #expect(try store.ledger(keys: ["record"]) == ["record": LedgerWrite(externalID: "C-1", eventID: 30)], "a newer version moves it on")
        try write(items[2], "record", "C-other", event: 25)
        #expect(try store.ledger(keys: ["record"]) == ["record": LedgerWrite(externalID: "C-1", eventID: 30)], "an older one does not")
        try write(items[3], "event", "P-1", event: nil)
        #expect(try store.ledger(keys: ["event", "record"])["event"] == LedgerWrite(externalID: "P-1", eventID: nil))
    }

    /// `expectedNew` is a hint about cost only (docs/STORE.md, guarantee 3): rows hinted new that exist already, or
    /// that appear twice in one batch, end as the conflict-handled writes applied one by one would leave them, next
    /// to rows the hint got right, and every item of the batch is finished.
    @Test(arguments: StoreBackend.allCases)
    func wrongNewRowHintsEndWhereRightOnesDo(backend: StoreBackend) throws {
        let (store, items) = try claimedItems(7, on: backend, leaseMillis: 60_000)
        func ledger(_ key: String, _ id: String, event: Int64?, hint: Bool = true) -> LedgerEntry {
            LedgerEntry(key: key, tenant: "t", connection: "erp", entity: "Account", externalID: id, eventID: event, expectedNew: hint)
        }
        func link(_ canonical: String, _ id: String, hint: Bool = true) -> XrefKey {
            XrefKey(tenant: "t", entity: "Account", canonicalID: canonical, connection: "erp", externalID: id, content: nil, expectedNew: hint)
        }
        try store.finish([WorkOutcome(workID: items[0].id, disposition: .done, ledger: [ledger("A", "X-A", event: 10)],
                                      xref: [link("c-A", "X-A")])], now: 1100)
        try store.finish([
            // Exist already, hinted new: the ledger row keeps its id and moves to the newer event, the link is re-pointed.
            WorkOutcome(workID: items[1].id, disposition: .done, ledger: [ledger("A", "X-other", event: 20)], xref: [link("c-A2", "X-A")]),
            // Right hints.
            WorkOutcome(workID: items[2].id, disposition: .done, ledger: [ledger("B", "X-B", event: 30)], xref: [link("c-B", "X-B")]),
        ], now: 1200)
        // Each case below in a batch of its own: a store may redo a whole batch conflict-handled, which would hide the next.
        try store.finish([
            // A key twice in the batch, first without the hint, then with it: they apply in that order.
            WorkOutcome(workID: items[3].id, disposition: .done, ledger: [ledger("C", "X-C", event: 40, hint: false)],
                        xref: [link("c-C", "X-C", hint: false)]),
            WorkOutcome(workID: items[4].id, disposition: .retry(at: 5000, status: .retry),
                        ledger: [ledger("C", "X-C2", event: 50)], xref: [link("c-C2", "X-C")]),
        ], now: 1200)
        try store.finish([
            // A key twice in the batch, hinted new both times.
            WorkOutcome(workID: items[5].id, disposition: .done, ledger: [ledger("D", "X-D", event: 60)], xref: [link("c-D", "X-D")]),
            WorkOutcome(workID: items[6].id, disposition: .done, ledger: [ledger("D", "X-D2", event: 70)], xref: [link("c-D2", "X-D")]),
        ], now: 1200)
        #expect(try store.ledger(keys: ["A", "B", "C", "D"]) == [
            "A": LedgerWrite(externalID: "X-A", eventID: 20),
            "B": LedgerWrite(externalID: "X-B", eventID: 30),
            "C": LedgerWrite(externalID: "X-C", eventID: 50),
            "D": LedgerWrite(externalID: "X-D", eventID: 70),
        ])
        let canonical = try ["X-A", "X-B", "X-C", "X-D"].map {
            try store.xref(tenant: "t", entity: "Account", connection: "erp", externalID: $0)?.canonicalID
        }
        #expect(canonical == ["c-A2", "c-B", "c-C2", "c-D2"])
        #expect(try store.xref(tenant: "t", entity: "Account", canonicalID: "c-A2").map(\.externalID) == ["X-A"])
        let stats = try store.stats(tenant: "t")
        #expect(stats.done == 6 && stats.pending == 1 && stats.running == 0)
    }

    /// Events of one record through one workflow run in order, one at a time: a newer one waits while an older one is
    /// unfinished (in flight, waiting to retry, parked), also once the store is opened again; other records go on.
    @Test(arguments: StoreBackend.allCases)
    func oneRecordsEventsRunInOrderOthersRunInParallel(backend: StoreBackend) throws {
        var store = try backend.freshStore()
        func keys(_ items: [ClaimedWork]) -> [String] { items.map(\.event.dedupeKey) }
        _ = try store.ingest(IngestBatch(events: [event("opp-1", key: "k-1"), event("opp-1", key: "k-2"), event("opp-2", key: "k-3"),
                                                  event("opp-3", key: "k-4"), event("opp-3", key: "k-5")]), now: 1000)
        let first = try store.claim(limit: 10, now: 1000, leaseMillis: 1000)
        #expect(keys(first) == ["k-1", "k-3", "k-4"])
        try store.finish([WorkOutcome(workID: first[0].id, disposition: .retry(at: 5000, status: .retry)),
                          WorkOutcome(workID: first[1].id, disposition: .done),
                          WorkOutcome(workID: first[2].id, disposition: .parked, connection: "erp")], now: 1100)
        #expect(try store.claim(limit: 10, now: 2000, leaseMillis: 1000).isEmpty, "k-2 waits for k-1's retry, k-5 for parked k-4")
        if let sqlite = store as? SQLiteStore {
            // A new process on the file knows what waits from the file.
            store = try SQLiteStore(path: sqlite.path)
            #expect(try store.claim(limit: 10, now: 2000, leaseMillis: 1000).isEmpty, "after opening the file again too")
        }
        let retried = try store.claim(limit: 10, now: 5000, leaseMillis: 1000)
        #expect(keys(retried) == ["k-1"])
        try store.finish([WorkOutcome(workID: retried[0].id, disposition: .done)], now: 5100)
        let next = try store.claim(limit: 10, now: 5200, leaseMillis: 1000)
        #expect(keys(next) == ["k-2"], "k-2 runs once k-1 is done")
        try store.finish(next.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 5300)
        // One at a time: the record's next event waits while one is in flight.
        _ = try store.ingest(IngestBatch(events: [event("opp-2", key: "k-6"), event("opp-2", key: "k-7")]), now: 6000)
        let inFlight = try store.claim(limit: 10, now: 6000, leaseMillis: 1000)
        #expect(keys(inFlight) == ["k-6"])
        try store.finish([WorkOutcome(workID: inFlight[0].id, disposition: .done)], now: 6100)
        let after = try store.claim(limit: 10, now: 6200, leaseMillis: 1000)
        #expect(keys(after) == ["k-7"])
        try store.finish(after.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 6300)
        // The parked item runs again once its connection is resumed, before the event after it.
        #expect(try store.setConnectionPaused(tenant: "t", connection: "erp", paused: false, reason: "new token", now: 7000) == 1)
        let resumed = try store.claim(limit: 10, now: 7000, leaseMillis: 1000)
        #expect(keys(resumed) == ["k-4"])
        try store.finish([WorkOutcome(workID: resumed[0].id, disposition: .done)], now: 7100)
        #expect(keys(try store.claim(limit: 10, now: 7200, leaseMillis: 1000)) == ["k-5"])
    }

    /// A transactional record's link stores only the side that was written: its canonical id names the origin.
    @Test(arguments: StoreBackend.allCases)
    func theOriginOfALinkIsReadFromItsCanonicalID(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        let written = XrefKey(tenant: "t", entity: "Invoice", canonicalID: CanonicalID.make(entity: "Invoice", source: "crm", externalID: "D:7"),
                              connection: "erp", externalID: "INV-1", content: nil)
        let fromWorkflow = XrefKey(tenant: "t", entity: "Invoice", canonicalID: "invoice:workflow:o2c:9", connection: "erp",
                                   externalID: "INV-2", content: nil)
        _ = try store.ingest(IngestBatch(events: [event("1")]), now: 1000)
        let item = try #require(try store.claim(limit: 1, now: 1000, leaseMillis: 500).first)
        try store.finish([WorkOutcome(workID: item.id, disposition: .done, xref: [written, fromWorkflow])], now: 1100)

        let links = try store.xref(tenant: "t", entity: "Invoice", canonicalID: written.canonicalID)
        #expect(links.map { "\($0.connection)=\($0.externalID)" } == ["crm=D:7", "erp=INV-1"], "an external id may hold a colon")
        let origin = try #require(try store.xref(tenant: "t", entity: "Invoice", connection: "crm", externalID: "D:7"))
        #expect(origin.canonicalID == written.canonicalID && origin.content == nil)
        #expect(try store.xref(tenant: "t", entity: "Invoice", connection: "crm", externalID: "D:8") == nil, "no write, no link")
        #expect(try store.xref(tenant: "t", entity: "Account", connection: "crm", externalID: "D:7") == nil, "links are per entity")
        #expect(try store.xref(tenant: "u", entity: "Invoice", connection: "crm", externalID: "D:7") == nil, "links are per tenant")
        // A record a workflow emitted has no connection of origin: only the written side is shown.
        #expect(try store.xref(tenant: "t", entity: "Invoice", canonicalID: fromWorkflow.canonicalID).map(\.connection) == ["erp"])
        #expect(try store.xref(tenant: "t", entity: "Invoice", connection: "workflow", externalID: "o2c:9") == nil)
    }

    /// A claimed item shows as running (SQLite holds its lease in memory, PostgreSQL in the row) until its outcome commits.
    @Test(arguments: StoreBackend.allCases)
    func aClaimedItemShowsAsRunningUntilItFinishes(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        _ = try store.ingest(IngestBatch(events: [event("1"), event("2")]), now: Clock.nowMillis())
        let item = try #require(try store.claim(limit: 1, now: Clock.nowMillis(), leaseMillis: 60_000).first)
        #expect(try store.transaction(id: item.id)?.status == "running")
        var running = TransactionFilter(tenant: "t")
        running.status = "running"
        #expect(try store.transactions(running).map(\.id) == [item.id])
        var pending = TransactionFilter(tenant: "t")
        pending.status = "pending"
        #expect(try store.transactions(pending).map(\.id).contains(item.id) == false)
        var stats = try store.stats(tenant: "t")
        #expect(stats.running == 1 && stats.pending == 1)
        try store.finish([WorkOutcome(workID: item.id, disposition: .retry(at: Clock.nowMillis(), status: .retry))], now: Clock.nowMillis())
        stats = try store.stats(tenant: "t")
        #expect(stats.running == 0 && stats.pending == 2)
        let again = try store.claim(limit: 10, now: Clock.nowMillis(), leaseMillis: 60_000)
        #expect(Set(again.map(\.id)).contains(item.id), "a finished lease does not hold its item back")
        #expect(again.first { $0.id == item.id }?.attempts == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func exceptionActionsAreAuditedAndTheChainVerifies(backend: StoreBackend) throws {
        let store = try backend.freshStore()
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

    static let tampering = [
        ("UPDATE audit SET detail = 'nothing to see' WHERE seq = 2", "row 2: content does not match its hash (edited)"),
        ("DELETE FROM audit WHERE seq = 2", "row 2 is missing (deleted)"),
        ("DELETE FROM audit WHERE seq = 3", "rows deleted at the end"),
        ("UPDATE audit SET actor = 'mallory', hash = 'x' WHERE seq = 1", "row 1: content does not match its hash (edited)"),
    ]

    @Test(arguments: StoreBackend.allCases, tampering)
    func verifyDetectsTampering(backend: StoreBackend, tampering: (sql: String, finding: String)) throws {
        let (sql, finding) = tampering
        let store = try backend.freshStore()
        for i in 1...3 { try store.audit(actor: "ops", action: "test.\(i)", target: "x", detail: "d\(i)", now: Int64(i)) }
        #expect(try store.verifyAudit().ok)
        try StoreBackend.tamper(store, sql)
        let report = try store.verifyAudit()
        #expect(!report.ok)
        #expect(report.problems.contains { $0.contains(finding) }, "\(report.problems)")
    }

    /// The audit trail is one piece of SQL for both stores (AuditTrailSQL): a trail that lost its head row refuses
    /// to append (it would restart the chain at 1) on both, where SQLite's own copy used to start again at genesis.
    @Test(arguments: StoreBackend.allCases)
    func aTrailThatLostItsHeadRefusesToAppend(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        try store.audit(actor: "ops", action: "test.1", target: "x", detail: "d1", now: 1)
        try StoreBackend.tamper(store, "DELETE FROM audit_head")
        #expect { try store.audit(actor: "ops", action: "test.2", target: "x", detail: "d2", now: 2) } throws: { error in
            "\(error)".contains("the audit head row is missing")
        }
        #expect(try store.auditEntries(limit: 10).map(\.action) == ["test.1"], "nothing appended")
    }

    @Test func migrationsAreVersionedAndANewerStoreIsRefused() throws {
        let path = TestEnv.tempDir("sbstore") + "/store.db"
        _ = try SQLiteStore(path: path)
        _ = try SQLiteStore(path: path)  // reopening applies nothing twice
        Self.sql(path, "INSERT INTO schema_migrations VALUES (99, 0)")
        #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path) }
    }
}

/// The rest of the protocol, round trip, on both backends: what one backend stores the other must read back the same way.
@Suite struct StoreContractTests {
    func event(_ id: String, workflows: [String] = ["wf"], amount: String? = "10.00") -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "opportunity.won", entity: "Opportunity", externalID: id, dedupeKey: "k-\(id)",
                 payload: Array(#"{"external_id":"\#(id)"}"#.utf8), amount: amount, currency: amount == nil ? nil : "EUR",
                 workflows: workflows, meta: id == "1" ? "m" : nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func everyMethodRoundTrips(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        let seen = XrefKey(tenant: "t", entity: "Account", canonicalID: "acc-1", connection: "crm", externalID: "A1", content: [1, 2])
        var batch = IngestBatch(events: [event("1"), event("2", workflows: ["wf", "other"], amount: nil)])
        batch.seen = [seen]
        #expect(try store.ingest(batch, now: 1000) == IngestOutcome(inserted: 2, duplicates: 0, rejected: 0))
        #expect(try store.xref(tenant: "t", entity: "Account", connection: "crm", externalID: "A1") == seen)

        let claimed = try store.claim(limit: 10, now: 1000, leaseMillis: 1000)
        #expect(claimed.map(\.event.externalID) == ["1", "2", "2"])
        #expect(claimed[0].event.payload == Array(#"{"external_id":"1"}"#.utf8) && claimed[0].event.meta == "m")
        #expect(claimed[0].event.amount == "10.00" && claimed[1].event.amount == nil && claimed[1].event.currency == nil)
        let erp = XrefKey(tenant: "t", entity: "Account", canonicalID: "acc-1", connection: "erp", externalID: "C-9", content: nil)
        let emitted = NewEvent(tenant: "t", source: "erp", type: "project.created", entity: "Project", externalID: "P1",
                               dedupeKey: "emit-P1", payload: Array("{}".utf8), workflows: ["wf"])
        try store.finish([
            WorkOutcome(workID: claimed[0].id, disposition: .done, connection: "erp",
                        steps: [StepTiming(step: "write", millis: 1.5, status: "OK")],
                        ledger: [LedgerEntry(key: "idem-1", tenant: "t", connection: "erp", entity: "Account", externalID: "C-9")],
                        xref: [erp], emitted: [emitted]),
            WorkOutcome(workID: claimed[1].id, disposition: .parked, connection: "erp", diagnostics: [Diagnostic("401")]),
            WorkOutcome(workID: claimed[2].id, disposition: .exception(reason: "fatal"), connection: "erp",
                        diagnostics: [Diagnostic("unknown item", fieldPath: "custom.service_item")]),
        ], now: 1100)
        #expect(try store.ledger(keys: ["idem-1"]).mapValues(\.externalID) == ["idem-1": "C-9"])
        #expect(try store.xref(tenant: "t", entity: "Account", canonicalID: "acc-1").map(\.connection) == ["crm", "erp"])
        #expect(try store.xref(tenant: "t", entity: "Account", connection: "crm", externalID: "A1")?.content == [1, 2],
                "a later upsert without content keeps the stored content")

        // The emitted event is queued; the parked item waits for its connection.
        #expect(try store.claim(limit: 10, now: 1200, leaseMillis: 1000).map(\.event.type) == ["project.created"])
        #expect(try store.setConnectionPaused(tenant: "t", connection: "erp", paused: true, reason: "AUTH", now: 1200) == 0)
        #expect(try store.pausedConnections().map(\.connection) == ["erp"])
        #expect(try store.setConnectionPaused(tenant: "t", connection: "erp", paused: false, reason: "", now: 1300) == 1)
        #expect(try store.pausedConnections().isEmpty)

        let done = try #require(try store.transaction(id: claimed[0].id))
        #expect(done.status == "done" && done.steps.map(\.step) == ["write"] && done.latencyMillis == 100 && done.connection == "erp")
        var filter = TransactionFilter(tenant: "t")
        filter.status = "exception"
        #expect(try store.transactions(filter).map(\.id) == [claimed[2].id])

        let stats = try store.stats(tenant: "t")
        #expect(stats.events == 3 && stats.done == 1 && stats.openExceptions == 1 && stats.running == 1 && stats.pending == 1)
        #expect(try store.openExceptionCount(tenant: "t") == 1)
        let item = try #require(try store.exceptions(ExceptionFilter(tenant: "t")).first)
        #expect(item.diagnostics.first?.fieldPath == "custom.service_item" && item.workflow == "other")
        #expect(try store.exception(id: item.id)?.reason == "fatal")
        #expect(try store.event(id: claimed[2].eventID)?.externalID == "2")

        try store.setStateValue([7], tenant: "t", connection: "crm", key: "k", now: 1)
        try store.setStateValue([8], tenant: "t", connection: "crm", key: "k", now: 2)
        #expect(try store.stateValue(tenant: "t", connection: "crm", key: "k") == [8])
        #expect(try store.stateValue(tenant: "t", connection: "crm", key: "none") == nil)

        try store.createToken(APITokenRow(name: "ops", hash: "h1", prefix: "sb_1", role: "operator", tenant: "t", createdAt: 5), actor: "admin")
        #expect(throws: StoreError.self) {
            try store.createToken(APITokenRow(name: "ops", hash: "h2", prefix: "sb_2", role: "viewer", tenant: nil, createdAt: 6), actor: "admin")
        }
        #expect(try store.token(hash: "h1")?.tenant == "t")
        #expect(try store.revokeToken(name: "ops", actor: "admin", now: 7) && !(try store.revokeToken(name: "ops", actor: "admin", now: 8)))
        #expect(try store.tokens().first?.revokedAt == 7)

        try store.vaultInsertDataKey(VaultDataKeyRow(id: "dk1", tenant: "t", wrapped: [1, 2, 3], masterKeyID: "mk1"), now: 1)
        try store.vaultPut(VaultSecretRow(tenant: "t", connection: "crm", name: "token", sealed: [9, 9], keyID: "dk1", updatedAt: 0),
                           actor: "admin", now: 2)
        #expect(try store.vaultSecret(tenant: "t", connection: "crm", name: "token")?.sealed == [9, 9])
        try store.vaultRewrap([VaultDataKeyRow(id: "dk1", tenant: "t", wrapped: [4], masterKeyID: "mk2")], actor: "admin", detail: "rotate", now: 3)
        #expect(try store.vaultDataKeys().map(\.masterKeyID) == ["mk2"])
        #expect(try store.vaultList(tenant: "t").map(\.name) == ["token"])
        #expect(try store.vaultDelete(tenant: "t", connection: "crm", name: "token", actor: "admin", now: 4))
        #expect(try store.auditEntries(limit: 10).map(\.action) == ["token.create", "token.revoke", "vault.set", "vault.rotate", "vault.delete"])
        #expect(try store.verifyAudit().ok)
    }

    @Test(arguments: StoreBackend.allCases)
    func aRejectedRecordIsAnExceptionAndItsRedeliveryIsNotAnother(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        let record = RejectedRecord(tenant: "t", source: "crm", type: "opportunity.won", entity: "Opportunity", externalID: "9",
                                    payload: Array("{}".utf8), reason: "schema_invalid", diagnostics: [Diagnostic("bad", fieldPath: "amount")],
                                    amount: "5.00", currency: "EUR")
        #expect(try store.ingest(IngestBatch(rejected: [record]), now: 1).rejected == 1)
        #expect(try store.ingest(IngestBatch(rejected: [record]), now: 2) == IngestOutcome(inserted: 0, duplicates: 1, rejected: 0))
        let item = try #require(try store.exceptions(ExceptionFilter()).first)
        #expect(item.amount == "5.00" && item.workID == nil && item.eventID != nil)
        #expect(try store.stats(tenant: nil).exceptionsByReason["schema_invalid"]?.blocked == ["EUR": "5.00"])
        #expect(!(try store.hasUnfinishedWork()))
    }
}

extension StoreTests {
    @Test func postgresMigrationsAreVersionedAndANewerStoreIsRefused() throws {
        let store = try TestPostgres.freshStore()
        let settings = store.settings
        _ = try PostgresStore(settings: settings, hostID: "again")  // reopening applies nothing twice
        try TestPostgres.sql(store, "INSERT INTO schema_migrations VALUES (99, 0)")
        #expect(throws: StoreError.self) { _ = try PostgresStore(settings: settings, hostID: "newer") }
    }
}
