import CSQLite
import Foundation
import SwitchboardCore
import SwitchboardStore
import Testing

/// Retention (docs/STORE.md "Retention"): what pruning removes, what it must keep, and reads that stay bounded.
@Suite struct RetentionTests {
    static let day = RetentionPolicy.day

    func event(_ id: String) -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "record.Account", entity: "Account", externalID: id, dedupeKey: "k-\(id)",
                 payload: Array(#"{"external_id":"\#(id)"}"#.utf8), amount: "10.00", currency: "EUR", workflows: ["wf"])
    }

    /// Ten events at day 0: eight finish, two stay unfinished. Pruning at later days removes, in turn, step timings,
    /// payloads, transactions and event rows of the finished eight only; totals, dedupe inside the window, the ledger
    /// and the unfinished two are untouched.
    @Test(arguments: StoreBackend.allCases)
    func pruningRemovesOnlyWhatItsPolicyAllowsAndKeepsTheTotals(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        let t0: Millis = 1_000
        _ = try store.ingest(IngestBatch(events: (1...10).map { event("\($0)") }), now: t0)
        let items = try store.claim(limit: 20, now: t0, leaseMillis: 365 * Self.day)
        try #require(items.count == 10)
        let finished = Array(items.prefix(8)), open = Array(items.suffix(2))
        try store.finish(finished.map { item in
            WorkOutcome(workID: item.id, disposition: .done, steps: [StepTiming(step: "write", millis: 3, status: "OK", detail: "")],
                        ledger: [LedgerEntry(key: "L-\(item.event.externalID)", tenant: "t", connection: "erp", entity: "Account",
                                             externalID: "X-\(item.event.externalID)")], xref: [])
        }, now: t0 + 10)
        let policy = RetentionPolicy(doneTransactions: 30 * Self.day, eventPayloads: 10 * Self.day, stepTimings: 5 * Self.day,
                                     dedupeWindow: 60 * Self.day)
        func prune(atDay day: Int64) throws -> PruneReport {
            var total = PruneReport()
            while true {
                let r = try store.prune(tenant: "t", policy: policy, now: t0 + day * Self.day, limit: 3)
                total.doneTransactions += r.doneTransactions; total.eventPayloads += r.eventPayloads
                total.stepTimings += r.stepTimings; total.events += r.events
                if r.total == 0 { return total }
            }
        }
        #expect(try prune(atDay: 4).total == 0, "nothing is old enough yet")
        var report = try prune(atDay: 20)
        #expect(report.stepTimings == 8 && report.eventPayloads == 8 && report.doneTransactions == 0 && report.events == 0)
        #expect(try store.event(id: finished[0].event.id)?.payload == [], "a finished event's payload is gone")
        #expect(try store.event(id: open[0].event.id)?.payload == open[0].event.payload, "an unfinished event keeps its payload")
        report = try prune(atDay: 40)
        #expect(report.doneTransactions == 8 && report.events == 0)
        // Inside the dedupe window a redelivery is still a no-op, though its transaction is gone.
        #expect(try store.ingest(IngestBatch(events: [event("1")]), now: t0 + 41 * Self.day).duplicates == 1)
        report = try prune(atDay: 70)
        #expect(report.events == 8, "the finished events' rows go after the dedupe window")
        #expect(try store.event(id: open[1].event.id) != nil, "an unfinished event is never pruned")
        #expect(try store.ledger(keys: ["L-1", "L-8"]).count == 2, "the ledger (write idempotency) is kept")
        let stats = try store.stats(tenant: "t")
        #expect(stats.events == 10 && stats.done == 8, "totals count what happened, not what is left: \(stats)")
        #expect(try store.hasUnfinishedWork())
    }

    /// The audit trail after pruning verifies from its checkpoint, which the trail itself records; a checkpoint
    /// moved behind the store's back, or rows removed before it, are reported.
    @Test(arguments: StoreBackend.allCases)
    func anAuditTrailPrunedToACheckpointStaysVerifiable(backend: StoreBackend) throws {
        let store = try backend.freshStore()
        for i in 1...6 { try store.audit(actor: "alice", action: "token.create", target: "token/\(i)", detail: "", now: Millis(i) * 1000) }
        #expect(try store.pruneAudit(before: 4500, actor: "switchboard", now: 10_000, limit: 2) == 2)
        #expect(try store.pruneAudit(before: 4500, actor: "switchboard", now: 10_001, limit: 2) == 2)
        #expect(try store.pruneAudit(before: 4500, actor: "switchboard", now: 10_002, limit: 2) == 0)
        let verified = try store.verifyAudit()
        #expect(verified.ok, "\(verified.problems)")
        #expect(verified.rows == 4, "rows 5 and 6 and the two audit.prune rows")
        try store.audit(actor: "alice", action: "token.create", target: "token/7", detail: "", now: 11_000)
        #expect(try store.verifyAudit().ok)
        try StoreBackend.tamper(store, "UPDATE audit_checkpoint SET seq = seq + 1")
        #expect(try !store.verifyAudit().ok, "a moved checkpoint breaks the chain")
    }

    /// Stats read a handful of rows whatever the store holds: 10,000,000 events, each with a finished
    /// transaction, and the stats of a tenant and of all tenants answer in under 100 ms (median of 5). The rows are
    /// written by SQL, so the totals are too, as the store's own inserts keep them (the pruning test above checks
    /// that they do).
    @Test func statsAreBoundedOverTenMillionStoredEvents() throws {
        let dir = TestEnv.tempDir("sbbig")
        defer { try? FileManager.default.removeItem(atPath: dir) }  // about 2 GB
        let path = dir + "/store.db"
        _ = try SQLiteStore(path: path)  // the schema
        let started = Clock.monotonicNanoseconds()
        StoreTests.sql(path, """
            PRAGMA synchronous = OFF;
            BEGIN;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000)
            INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, received_at)
            SELECT CASE WHEN i <= 10 THEN 'tiny' WHEN i % 10 = 0 THEN 'small' ELSE 'big' END, 'crm', 'record.Account', 'Account', i, 'k' || i, X'7B7D', i FROM n;
            INSERT INTO work (event_id, tenant, workflow, status, attempts, next_attempt_at, created_at, finished_at)
            SELECT id, tenant, 'wf', 'done', 1, received_at, received_at, received_at + (id % 100) FROM events;
            INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'events', COUNT(*) FROM events GROUP BY tenant;
            INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'work.done', COUNT(*) FROM work GROUP BY tenant;
            COMMIT;
            """)
        let built = (Clock.monotonicNanoseconds() - started) / 1_000_000
        let store = try SQLiteStore(path: path)
        // The big tenant's latest 10,000 take about 25 ms here (docs/STORE.md); 250 ms is ten times that, room for a
        // loaded machine (a CI run beside a build took 121 ms), and still far below a read that scans the tenant.
        try Self.checkBoundedReads(store, label: "", built: built, latestBigBound: 250_000, latencies: true)
    }

    /// The same bound on PostgreSQL, the store for users who outgrow one machine: 10,000,000 events, each with a
    /// done transaction, inserted by SQL so the store's own statement triggers keep the totals (as its inserts do).
    /// scripts/test runs it alone after the rest (SB_BIG_STORE_TESTS=1): beside the real-system flows it starved them.
    @Test(.enabled(if: TestPostgres.url != nil && ProcessInfo.processInfo.environment["SB_BIG_STORE_TESTS"] == "1"))
    func statsAreBoundedOverTenMillionStoredEventsOnPostgreSQL() throws {
        let store = try TestPostgres.freshStore()
        let started = Clock.monotonicNanoseconds()
        // In slices of 250,000: each statement stays well inside the store's 30 s statement deadline.
        let slice = 250_000
        for from in stride(from: 1, through: 10_000_000, by: slice) {
            try TestPostgres.sql(store, """
                INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, received_at)
                SELECT CASE WHEN i <= 10 THEN 'tiny' WHEN i % 10 = 0 THEN 'small' ELSE 'big' END, 'crm', 'record.Account', 'Account',
                       i::text, 'k' || i, '\\x7b7d'::bytea, i
                FROM generate_series(\(from), \(from + slice - 1)) AS i
                """)
            try TestPostgres.sql(store, """
                INSERT INTO work (event_id, tenant, workflow, ordering_key, status, attempts, next_attempt_at, created_at, finished_at)
                SELECT id, tenant, 'wf', tenant || '|' || id, 'done', 1, received_at, received_at, received_at + (id % 100) FROM events
                WHERE id BETWEEN \(from) AND \(from + slice - 1)   -- ids are 1... in a fresh database
                """)
        }
        try TestPostgres.sql(store, "ANALYZE events")
        try TestPostgres.sql(store, "ANALYZE work")
        let built = (Clock.monotonicNanoseconds() - started) / 1_000_000
        // The latest 10,000 of the big tenant are not yet under 100 ms here (said in issue 26's closing note): the
        // server runs the statement in about 30 ms (EXPLAIN ANALYZE, a nested loop over the latest items), but reading
        // the rows into the host costs about 75 µs each, whatever the store's size. Held to its figure, so it cannot
        // silently grow with the store.
        try Self.checkBoundedReads(store, label: "PostgreSQL ", built: built, latestBigBound: 3_000_000, latencies: false)
        if ProcessInfo.processInfo.environment["SB_KEEP_BIG_DATABASE"] == nil {
            try TestPostgres.sql(store, "TRUNCATE work, events")   // gigabytes of test data do not outlive the test
        }
    }

    /// The reads both 10,000,000-event stores must answer whatever their size (medians of 5, µs): stats of the big
    /// tenant and of all, and the dashboard's latest 10,000 transactions of the big tenant and of a tenant whose ten
    /// are the oldest in the store (under 100 ms, but the big tenant's under `latestBigBound`).
    static func checkBoundedReads(_ store: any FullStore, label: String, built: Int64, latestBigBound: Int64, latencies: Bool) throws {
        func median(_ read: () throws -> Void) rethrows -> Int64 {
            var timings: [Int64] = []
            for _ in 0..<5 {
                let t = Clock.monotonicNanoseconds()
                try read()
                timings.append((Clock.monotonicNanoseconds() - t) / 1_000)
            }
            return timings.sorted()[2]
        }
        for tenant in ["big", nil] as [String?] {
            var stats: RuntimeStats?
            let took = try median { stats = try store.stats(tenant: tenant) }
            print("\(label)stats(\(tenant ?? "all")) over 10,000,000 events: median \(took) µs (store built in \(built) ms)")
            #expect(stats?.events == (tenant == nil ? 10_000_000 : 8_999_991))
            #expect(stats?.done == (tenant == nil ? 10_000_000 : 8_999_991))
            if latencies { #expect(stats?.latenciesMillis.count == StoreShared.recentLatencies) }
            #expect(took < 100_000, "stats(\(tenant ?? "all")) took \(took) µs")
        }
        for tenant in ["big", "tiny"] {
            var found = 0
            let took = try median {
                var filter = TransactionFilter(tenant: tenant)
                filter.limit = 10_000
                found = try store.transactions(filter).count
            }
            print("\(label)dashboard transactions(\(tenant)) over 10,000,000 events: median \(took) µs")
            #expect(found == (tenant == "tiny" ? 10 : 10_000))
            #expect(took < (tenant == "tiny" ? 100_000 : latestBigBound), "transactions(\(tenant)) took \(took) µs")
        }
    }
}
