import Foundation
import SwitchboardCore
import SwitchboardStore
@testable import SwitchboardStorePostgres
import SwitchboardEgress
import SwitchboardHost
import SwitchboardRuntime
import Synchronization
import Testing

/// What only a shared store must guarantee: several hosts on one PostgreSQL database (docs/STORE-POSTGRES.md).
@Suite struct PostgresStoreTests {
    /// A statement that hangs (here: waiting for a row lock another session holds) is interrupted at once by
    /// `interruptStatements`, which a stop that outlives its grace calls (found by MultiHostTests under load: a host
    /// woken from SIGSTOP could not stop within its 11 s, its held batch's statement waiting on the server).
    @Test func aHangingStatementIsInterruptedAndTheStoreGoesOn() throws {
        let store = try TestPostgres.freshStore()
        try store.audit(actor: "ops", action: "test.1", target: "x", detail: "", now: 1)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread {
            _ = try? store.pool.transaction { db in
                try db.run("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE")
                locked.signal()
                _ = release.wait(timeout: .now() + 20)
            }
        }.start()
        #expect(locked.wait(timeout: .now() + 10) == .success)
        let outcome = Mutex<(error: String?, seconds: Double)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let started = Date()
            var error: String?
            do { try store.audit(actor: "ops", action: "test.2", target: "x", detail: "", now: 2) } catch let e { error = "\(e)" }
            outcome.withLock { $0 = (error, Date().timeIntervalSince(started)) }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 1) == .timedOut, "the audit append waits for the row lock")
        store.interruptStatements()
        #expect(done.wait(timeout: .now() + 5) == .success, "interrupted, the waiting statement returns")
        let result = outcome.withLock { $0 }
        #expect(result?.error != nil, "it failed rather than committing: \(String(describing: result))")
        release.signal()
        // The store opens new sessions and goes on; nothing was appended by the interrupted call.
        try store.audit(actor: "ops", action: "test.3", target: "x", detail: "", now: 3)
        #expect(try store.auditEntries(limit: 10).map(\.action) == ["test.1", "test.3"])
        #expect(try store.verifyAudit().ok)
    }

    func event(_ id: String, record: String? = nil, key: String? = nil) -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "opportunity.won", entity: "Opportunity", externalID: record ?? id,
                 dedupeKey: key ?? "k-\(id)", payload: Array("{}".utf8), workflows: ["wf"])
    }

    /// Two hosts (stores on one database) claim concurrently: no item goes to both, every item goes to one.
    @Test func concurrentClaimsNeverHandOutAnItemTwice() throws {
        let url = try TestPostgres.freshDatabase("claims")
        let hosts = try ["a", "b", "c"].map { try TestPostgres.store(url: url, hostID: $0) }
        _ = try hosts[0].ingest(IngestBatch(events: (1...1500).map { event("\($0)") }), now: 1000)
        let claimed = Mutex<[Int64: String]>([:])
        let doubles = Mutex<[Int64]>([])
        // Every host claims its first batch before any goes on: under load, one host could otherwise take all the
        // work before another had connected, and nothing would be concurrent.
        let firstClaims = DispatchGroup()
        for _ in hosts { firstClaims.enter() }
        // A thread per host (a dispatch queue may run fewer at once than there are hosts, and the barrier would wait).
        let finished = DispatchGroup()
        for host in hosts { finished.enter(); Thread {
            defer { finished.leave() }
            var first = true
            while let batch = try? host.claim(limit: 25, now: 1000, leaseMillis: 60_000), !batch.isEmpty {
                if first {
                    first = false
                    firstClaims.leave()
                    firstClaims.wait()
                }
                claimed.withLock { seen in
                    for item in batch where seen.updateValue(host.hostID, forKey: item.id) != nil { doubles.withLock { $0.append(item.id) } }
                }
                try? host.finish(batch.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 1001)
            }
            if first { firstClaims.leave() }
        }.start() }
        finished.wait()
        #expect(doubles.withLock { $0 }.isEmpty)
        #expect(claimed.withLock { $0.count } == 1500)
        #expect(Set(claimed.withLock { Array($0.values) }).count > 1, "the hosts shared the work")
        #expect(try hosts[0].stats(tenant: "t").done == 1500)
    }

    /// A host that lost its lease (paused past it) cannot overwrite the result of the host that took the item over,
    /// whatever its outcome says, and records none of its writes.
    @Test func aFinishAfterTheLeaseWasTakenOverIsIgnored() throws {
        let url = try TestPostgres.freshDatabase("lease")
        let a = try TestPostgres.store(url: url, hostID: "a"), b = try TestPostgres.store(url: url, hostID: "b")
        _ = try a.ingest(IngestBatch(events: [event("1"), event("2"), event("3")]), now: 1000)
        let mine = try a.claim(limit: 10, now: 1000, leaseMillis: 100)
        #expect(mine.count == 3)
        #expect(try b.claim(limit: 10, now: 1050, leaseMillis: 100).isEmpty)
        let taken = try b.claim(limit: 10, now: 1200, leaseMillis: 1000)
        #expect(taken.map(\.id) == mine.map(\.id))
        #expect(try a.leaseRecoveries() == 3)
        func wrote(_ key: String) -> [LedgerEntry] { [LedgerEntry(key: key, tenant: "t", connection: "erp", entity: "X", externalID: key)] }
        let late = [WorkOutcome(workID: mine[0].id, disposition: .done, ledger: wrote("late-done")),
                     WorkOutcome(workID: mine[1].id, disposition: .retry(at: 1300, status: .retry), ledger: wrote("late-retry")),
                     WorkOutcome(workID: mine[2].id, disposition: .exception(reason: "fatal"), ledger: wrote("late-exception"))]
        try a.finish(late, now: 1300)
        #expect(try a.ledger(keys: ["late-done", "late-retry", "late-exception"]).isEmpty && (try a.exceptions(ExceptionFilter()).isEmpty),
                "the stale outcomes changed nothing")
        for item in mine { #expect(try a.transaction(id: item.id)?.status == "running") }
        try b.finish([WorkOutcome(workID: taken[0].id, disposition: .done, ledger: wrote("b-done")),
                      WorkOutcome(workID: taken[1].id, disposition: .exception(reason: "fatal"))], now: 1400)
        #expect(try a.transaction(id: mine[0].id)?.status == "done")
        #expect(try a.exceptions(ExceptionFilter()).map(\.workID) == [taken[1].id])
        #expect(try a.ledger(keys: ["b-done"]).count == 1)
        #expect(try a.transaction(id: mine[2].id)?.status == "running", "still b's, untouched by a's stale exception")
    }

    /// The heartbeat keeps a live host's leases from expiring; only a host that stops renewing loses its items.
    @Test func renewedLeasesAreNotTakenOver() throws {
        let url = try TestPostgres.freshDatabase("heartbeat")
        let a = try TestPostgres.store(url: url, hostID: "a"), b = try TestPostgres.store(url: url, hostID: "b")
        _ = try a.ingest(IngestBatch(events: [event("1"), event("2")]), now: 1000)
        let ids = try a.claim(limit: 10, now: 1000, leaseMillis: 1000).map(\.id)
        #expect(ids.count == 2)
        #expect(try a.renewLeases(ids: ids, now: 1800, leaseMillis: 1000) == 2)
        #expect(try b.renewLeases(ids: ids, now: 1800, leaseMillis: 1000) == 0, "a host renews only its own leases")
        #expect(try b.claim(limit: 10, now: 2100, leaseMillis: 1000).isEmpty)
        #expect(try b.claim(limit: 10, now: 2900, leaseMillis: 1000).count == 2)
    }

    /// An item whose outcome never reached the store (the connection died mid-commit) is not renewed by the
    /// host that still owns its lease: the lease runs out and another host runs the item. (Renewing by owner
    /// kept such items leased for as long as their host lived: the database crash test hung on them.)
    @Test func aHostRenewsOnlyWhatItIsStillWorkingOn() throws {
        let url = try TestPostgres.freshDatabase("orphans")
        let a = try TestPostgres.store(url: url, hostID: "a"), b = try TestPostgres.store(url: url, hostID: "b")
        _ = try a.ingest(IngestBatch(events: [event("1"), event("2")]), now: 1000)
        let claimed = try a.claim(limit: 10, now: 1000, leaseMillis: 1000)
        let working = claimed[0].id, lost = claimed[1].id
        #expect(try a.renewLeases(ids: [working], now: 1800, leaseMillis: 1000) == 1)
        #expect(try b.claim(limit: 10, now: 2100, leaseMillis: 1000).map(\.id) == [lost])
    }

    /// Two hosts receiving the same delivery log it once.
    @Test func concurrentIngestOfOneDeliveryLogsItOnce() throws {
        let url = try TestPostgres.freshDatabase("ingest")
        let hosts = try ["a", "b"].map { try TestPostgres.store(url: url, hostID: $0) }
        let inserted = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let n = (try? hosts[i].ingest(IngestBatch(events: (1...300).map { event("\($0)") }), now: 1000).inserted) ?? -1000
            inserted.withLock { $0 += n }
        }
        #expect(inserted.withLock { $0 } == 300)
        #expect(try hosts[0].stats(tenant: "t").pending == 300)
    }

    /// One scheduler at a time; when its host goes, another takes over.
    @Test func theSchedulerLockIsHeldByOneHostAndMovesWhenItGoes() throws {
        let url = try TestPostgres.freshDatabase("scheduler")
        var a: PostgresStore? = try TestPostgres.store(url: url, hostID: "a")
        let b = try TestPostgres.store(url: url, hostID: "b")
        #expect(a!.holdsSchedulerLock(takeOverAfterMillis: nil))
        #expect(!b.holdsSchedulerLock(takeOverAfterMillis: nil))
        a = nil  // the host stops: its session closes and the lock is free
        let deadline = Date().addingTimeInterval(5)
        while !b.holdsSchedulerLock(takeOverAfterMillis: nil) && Date() < deadline { usleep(100_000) }
        #expect(b.holdsSchedulerLock(takeOverAfterMillis: nil))
        #expect(try b.schedulerHistory() == ["host:a", "host:b"])
    }

    /// A scheduler that is alive but silent (its poller stuck) loses the role to a host that waited out the stall bound;
    /// one that keeps showing signs of life keeps it.
    @Test func aStuckSchedulerIsTakenOverAndAHealthyOneIsNot() throws {
        let url = try TestPostgres.freshDatabase("stuck")
        let a = try TestPostgres.store(url: url, hostID: "a")
        let b = try TestPostgres.store(url: url, hostID: "b")
        #expect(a.holdsSchedulerLock(takeOverAfterMillis: 3000))
        // Healthy: a shows a sign of life every 200 ms (its session is touched at most every 500 ms); b tries for 4 s.
        let healthy = Date().addingTimeInterval(4)
        while Date() < healthy {
            #expect(a.holdsSchedulerLock(takeOverAfterMillis: 3000))
            #expect(!b.holdsSchedulerLock(takeOverAfterMillis: 3000), "a healthy scheduler was taken over")
            usleep(200_000)
        }
        // Stuck: a falls silent; after 3 s b ends a's session and wins the lock.
        let silentSince = Date()
        let deadline = silentSince.addingTimeInterval(15)
        while !b.holdsSchedulerLock(takeOverAfterMillis: 3000) && Date() < deadline { usleep(100_000) }
        let tookOver = Date().timeIntervalSince(silentSince)
        #expect(b.holdsSchedulerLock(takeOverAfterMillis: 3000), "b did not take over from a silent scheduler")
        // a's last sign of life may be up to 0.5 s before the loop ended (its session is touched at most every 0.5 s).
        #expect(tookOver >= 2.5 && tookOver < 10, "took over after \(tookOver) s (bound 3 s, tried every 0.5 s)")
        // a wakes up: its session is gone, it learns it is no longer the scheduler and does not win the lock back.
        usleep(600_000)
        #expect(!a.holdsSchedulerLock(takeOverAfterMillis: 3000))
        usleep(600_000)
        #expect(!a.holdsSchedulerLock(takeOverAfterMillis: 3000))
        #expect(b.holdsSchedulerLock(takeOverAfterMillis: 3000))
        #expect(try b.schedulerHistory() == ["host:a", "host:b"])
        let takeover = try #require(try b.auditEntries(limit: 50).first { $0.action == "scheduler.taken_over" })
        #expect(takeover.actor == "host:b" && takeover.detail.contains("switchboard-scheduler:a"), "\(takeover)")
        #expect(try b.verifyAudit().ok)
    }

    /// Audit appends from several hosts at once stay one linear chain.
    @Test func concurrentAuditAppendsKeepTheChainLinear() throws {
        let url = try TestPostgres.freshDatabase("audit")
        let hosts = try ["a", "b", "c"].map { try TestPostgres.store(url: url, hostID: $0) }
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            for n in 0..<40 { try? hosts[i].audit(actor: hosts[i].hostID, action: "test", target: "\(n)", detail: "", now: Int64(n)) }
        }
        let report = try hosts[0].verifyAudit()
        #expect(report.ok, "\(report.problems)")
        #expect(report.rows == 120)
    }

    @Test func aStoreURLWithAPasswordOrWithoutADatabaseIsRefused() {
        #expect(throws: StoreError.self) { try PostgresSettings(url: "postgres://sb:hunter2@db:5432/sb", environment: [:]) }
        #expect(throws: StoreError.self) { try PostgresSettings(url: "postgres://sb@db:5432", environment: [:]) }
        #expect(throws: StoreError.self) { try PostgresSettings(url: "mysql://sb@db/sb", environment: [:]) }
        let error = #expect(throws: StoreError.self) { try PostgresSettings(url: "postgres://sb:hunter2@db:5432/sb", environment: [:]) }
        #expect(!(error?.description.contains("hunter2") ?? true), "the password is not repeated in the error")
    }

    /// A host opens its whole pool when it starts (Stores.open for a runtime): connecting costs the server a
    /// process and an authentication, which belong to start-up, not to the first batches.
    @Test func aHostOpensItsWholePoolAtStartAndKeepsIt() throws {
        let store = try TestPostgres.freshStore()
        func connections() throws -> Int64 {
            try store.pool.with { db in
                try db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")[0].int(0)
            }
        }
        #expect(try connections() == 1, "a store opened for a question or two connects as it needs")
        try store.openPool()
        #expect(try connections() == 6)
        _ = try store.ingest(IngestBatch(events: [NewEvent(tenant: "t", source: "crm", type: "record.Account", entity: "Account",
                                                           externalID: "A1", dedupeKey: "k-1", payload: Array("{}".utf8),
                                                           workflows: ["wf"])]), now: 1000)
        let items = try store.claim(limit: 10, now: 1000, leaseMillis: 30_000)
        try store.finish(items.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 1001)
        try store.openPool()
        #expect(try connections() == 6, "the pool's connections are reused, never more than its size")
    }

    @Test func preparedStatementsAreOnUnlessTheURLTurnsThemOff() throws {
        #expect(try PostgresSettings(url: "postgres://sb@db/sb", environment: [:]).preparesStatements)
        #expect(try PostgresSettings(url: "postgres://sb@db/sb?prepared_statements=on", environment: [:]).preparesStatements)
        let off = try PostgresSettings(url: "postgres://sb@db/sb?sslmode=require&prepared_statements=off", environment: [:])
        #expect(!off.preparesStatements)
        #expect(off.redactedURL == "postgres://sb@db:5432/sb?sslmode=require&prepared_statements=off", "the URL keeps what it chose")
        let wrong = #expect(throws: StoreError.self) { try PostgresSettings(url: "postgres://sb@db/sb?prepared_statements=no", environment: [:]) }
        #expect(wrong?.description.contains("prepared_statements \"no\" is not on or off") == true)
        let unknown = #expect(throws: StoreError.self) { try PostgresSettings(url: "postgres://sb@db/sb?prepare=off", environment: [:]) }
        #expect(unknown?.description.contains("unknown parameter \"prepare\"") == true)
    }
}

/// A connection's rate limit holds across hosts: its bucket is a row in the shared store.
@Suite struct SharedRateLimitTests {
    @Test func twoHostsCallingOneAPIShareItsRateLimit() throws {
        let server = try LoopbackServer()
        let url = try TestPostgres.freshDatabase("ratelimit")
        let hosts = try ["a", "b"].map { try TestPostgres.store(url: url, hostID: $0) }
        var policy = EgressPolicy(allow: ["127.0.0.1:\(server.port)"])
        policy.ratePerSecond = 10
        policy.burst = 1
        let egresses = hosts.map { store in
            HTTPEgress(policy: policy, resolve: { _ in nil },
                       limiter: StoreRateLimiter(store: store, key: "egress/acme/api", ratePerSecond: 10, burst: 1))
        }
        let started = Date()
        let ok = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            for _ in 0..<5 {
                let result = egresses[i].send(EgressRequest(method: "GET", url: server.url("/basic"), headers: [], body: [],
                                                            timeoutMilliseconds: 0, injectAuth: false))
                if case .response = result { ok.withLock { $0 += 1 } }
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(ok.withLock { $0 } == 10)
        // 10 requests at 10/s with burst 1 take about 0.9 s in all; two separate buckets would take about 0.4 s.
        #expect(elapsed >= 0.8, "the hosts did not share the limit: \(elapsed) s")
    }
}
