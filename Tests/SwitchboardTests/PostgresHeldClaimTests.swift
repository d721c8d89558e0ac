import Foundation
import SwitchboardCore
import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// Held claims (docs/STORE.md guarantee 2, docs/STORE-POSTGRES.md guarantee 3): a batch held by its claim's open
/// transaction instead of a lease written into its rows.
@Suite struct PostgresHeldClaimTests {
    func event(_ id: String, record: String? = nil) -> NewEvent {
        NewEvent(tenant: "t", source: "crm", type: "opportunity.won", entity: "Opportunity", externalID: record ?? id,
                 dedupeKey: "k-\(id)", payload: Array("{\"n\":\"\(id)\"}".utf8), workflows: ["wf"])
    }

    func hosts(_ label: String, events: [NewEvent]) throws -> (PostgresStore, PostgresStore) {
        let url = try TestPostgres.freshDatabase(label)
        let a = try TestPostgres.store(url: url, hostID: "a"), b = try TestPostgres.store(url: url, hostID: "b")
        _ = try a.ingest(IngestBatch(events: events), now: 1000)
        return (a, b)
    }

    func held(_ store: PostgresStore, limit: Int = 10, now: Millis = 1000, leaseMillis: Millis = 60_000) throws -> any HeldBatch {
        try #require(try store.claimHeld(limit: limit, now: now, leaseMillis: leaseMillis))
    }

    func externalIDs(_ items: [ClaimedWork]) -> [String] { items.map(\.event.externalID) }

    /// Held items go to no one else, show as running, keep the newer items of their keys waiting; the finish commits the
    /// outcomes and ends the hold, and an item left without an outcome is due again at once.
    @Test func heldItemsGoToNoOneElseUntilTheFinishCommits() throws {
        let (a, b) = try hosts("held", events: [event("1"), event("2"), event("3"), event("1b", record: "1")])
        let batch = try held(a)
        #expect(externalIDs(batch.items) == ["1", "2", "3"], "the second event of record 1 waits for the first")
        #expect(batch.items.map(\.event.payload) == ["1", "2", "3"].map { Array("{\"n\":\"\($0)\"}".utf8) })
        #expect(try b.claim(limit: 10, now: 999_999, leaseMillis: 1000).isEmpty, "held rows are skipped, whatever the clock")
        #expect(try #require(try b.claimHeld(limit: 10, now: 999_999, leaseMillis: 1000)).items.isEmpty)
        let stats = try b.stats(tenant: "t")
        #expect(stats.running == 3 && stats.pending == 1, "\(stats)")
        #expect(try b.hasUnfinishedWork())

        func wrote(_ key: String) -> [LedgerEntry] {
            [LedgerEntry(key: key, tenant: "t", connection: "erp", entity: "Opportunity", externalID: "E-\(key)", expectedNew: true)]
        }
        let notHeld = try #require(try b.transactions(TransactionFilter(tenant: "t")).first { $0.externalID == "1" && !batch.items.map(\.id).contains($0.id) })
        try batch.finish([WorkOutcome(workID: batch.items[0].id, disposition: .done, ledger: wrote("one")),
                          WorkOutcome(workID: batch.items[1].id, disposition: .retry(at: 5000, status: .retry), ledger: wrote("two")),
                          WorkOutcome(workID: notHeld.id, disposition: .done, ledger: wrote("not-held"))],
                         now: 1100)
        #expect(try b.ledger(keys: ["one", "two", "not-held"]).keys.sorted() == ["one", "two"], "an item the batch does not hold is not finished by it")
        #expect(try b.transaction(id: notHeld.id)?.status == "pending")
        #expect(try b.transaction(id: batch.items[0].id)?.status == "done")
        #expect(try b.transaction(id: batch.items[0].id)?.attempts == 1)
        // Item 3 had no outcome: due again at once. Record 1's second event is free now; item 2 waits for its retry.
        #expect(externalIDs(try b.claim(limit: 10, now: 1200, leaseMillis: 1000)) == ["3", "1"])
        #expect(try b.stats(tenant: "t").running == 2, "the leased items; no hold is left")
        #expect(try b.leaseRecoveries() == 0, "a finished hold is not a recovery")
        #expect(throws: (any Error).self) { try batch.finish([], now: 1300) }
    }

    /// A leasing host's expired items are taken over by a held claim (leased to the holder inside the hold), counted
    /// as recovered, and finished with the batch.
    @Test func aHeldClaimTakesOverExpiredLeases() throws {
        let (a, b) = try hosts("expired", events: [event("1"), event("2")])
        let leased = try a.claim(limit: 1, now: 1000, leaseMillis: 100)
        #expect(externalIDs(leased) == ["1"])
        let batch = try held(b, now: 1200)
        #expect(externalIDs(batch.items) == ["1", "2"], "the expired lease first, then the due item")
        try batch.finish(batch.items.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 1300)
        #expect(try b.stats(tenant: "t").done == 2)
        #expect(try b.leaseRecoveries() == 1)
        try a.finish(leased.map { WorkOutcome(workID: $0.id, disposition: .exception(reason: "late")) }, now: 1400)
        #expect(try a.exceptions(ExceptionFilter()).isEmpty, "the host whose lease was taken over finishes nothing")
    }

    /// Attempts and the first and last tried times are written with the outcome, as a leasing claim would have.
    @Test func attemptsAndTriedTimesAreWrittenWithTheOutcome() throws {
        let (a, _) = try hosts("tried", events: [event("1")])
        let first = try held(a, now: 1000)
        try first.finish([WorkOutcome(workID: first.items[0].id, disposition: .retry(at: 1500, status: .retry))], now: 1010)
        let second = try held(a, now: 2000)
        let item = try #require(second.items.first)
        #expect(item.attempts == 1 && item.firstTriedAt == 1000)
        try second.finish([WorkOutcome(workID: item.id, disposition: .exception(reason: "FATAL"))], now: 2010)
        let exception = try #require(try a.exceptions(ExceptionFilter()).first)
        #expect(exception.attempts == 2 && exception.firstTriedAt == 1000 && exception.lastTriedAt == 2000, "\(exception)")
    }

    /// A holder that dies (its session ends) lets go of its items at once; they count as taken over, and its finish,
    /// if it ever comes, records nothing.
    @Test func aHoldEndsWithItsSessionAndIsCountedAsTakenOver() throws {
        let (a, b) = try hosts("gone", events: [event("1"), event("2"), event("3")])
        let batch = try held(a)
        #expect(batch.items.count == 3)
        let terminated = try b.pool.with { db in
            try db.query("""
                SELECT pg_terminate_backend(backend_pid)::text FROM held_claims WHERE host = 'a'
                """).map { try $0.text(0) }
        }
        #expect(terminated == ["true"])
        var taken: [ClaimedWork] = []
        for _ in 0..<50 where taken.isEmpty {
            taken = try b.claim(limit: 10, now: 1000, leaseMillis: 60_000)
            if taken.isEmpty { usleep(20_000) }
        }
        #expect(taken.map(\.id) == batch.items.map(\.id), "due at once, not after a lease")
        #expect(try b.leaseRecoveries() == 3)
        let late = batch.items.map {
            WorkOutcome(workID: $0.id, disposition: .done,
                        ledger: [LedgerEntry(key: "late-\($0.id)", tenant: "t", connection: "erp", entity: "Opportunity", externalID: "x")])
        }
        #expect(throws: (any Error).self) { try batch.finish(late, now: 1100) }
        #expect(try b.ledger(keys: late.map { "late-\($0.workID)" }).isEmpty)
        #expect(try b.stats(tenant: "t").running == 3, "b's leases")
    }

    /// The heartbeat keeps a hold; a holder silent for its lease loses it (the server ends the session) and its items
    /// are due again, while a kept-alive one finishes normally.
    @Test func aSilentHolderLosesItsHoldAfterTheLeaseAndAKeptAliveOneDoesNot() throws {
        let (a, b) = try hosts("silent", events: (1...4).map { event("\($0)") })
        let kept = try held(a, limit: 2, leaseMillis: 600), silent = try held(a, limit: 2, leaseMillis: 600)
        #expect(externalIDs(kept.items) == ["1", "2"] && externalIDs(silent.items) == ["3", "4"])
        for _ in 0..<10 {
            usleep(150_000)
            #expect(kept.keepAlive())
        }
        #expect(externalIDs(try b.claim(limit: 10, now: 1000, leaseMillis: 60_000)) == ["3", "4"])
        #expect(!silent.keepAlive(), "the silent hold is gone")
        try kept.finish(kept.items.map { WorkOutcome(workID: $0.id, disposition: .done) }, now: 2000)
        #expect(try b.stats(tenant: "t").done == 2)
    }

    /// Releasing records nothing and makes every item due at once; a host holds at most what leaves its pool two
    /// sessions for everything else, and then claims by lease.
    @Test func releaseFreesTheItemsAndHoldsAreBoundedByThePool() throws {
        let (a, b) = try hosts("bounded", events: (1...6).map { event("\($0)") })
        let batches = try (0..<4).map { _ in try held(a, limit: 1) }
        #expect(try a.claimHeld(limit: 1, now: 1000, leaseMillis: 60_000) == nil, "4 of 6 sessions held: the rest is not lent")
        #expect(externalIDs(try a.claim(limit: 1, now: 1000, leaseMillis: 60_000)) == ["5"], "leasing still works meanwhile")
        batches[0].release()
        #expect(externalIDs(try b.claim(limit: 10, now: 1000, leaseMillis: 60_000)) == ["1", "6"])
        #expect(try a.claimHeld(limit: 1, now: 1000, leaseMillis: 60_000) != nil, "a released hold gives its session back")
        for batch in batches.dropFirst() { batch.release() }
    }

    /// A host claims after its frontier, so an item left behind it (here: a released hold's) waits for a claim from
    /// the head: one that comes when the frontier's claim comes short, or the next after `headScanMillis`.
    @Test func itemsLeftBehindTheFrontierAreTakenByAClaimFromTheHead() throws {
        let (a, _) = try hosts("frontier", events: (1...8).map { event("\($0)") })
        let first = try held(a, limit: 2, now: 1000)
        #expect(externalIDs(first.items) == ["1", "2"])
        first.release()
        let second = try held(a, limit: 2, now: 1500)
        #expect(externalIDs(second.items) == ["3", "4"], "after the frontier: the released 1 and 2 are behind it")
        second.release()
        let third = try held(a, limit: 2, now: 1000 + HoldFrontier.headScanMillis)
        #expect(externalIDs(third.items) == ["1", "2"], "a claim from the head is due")
        third.release()
        let fourth = try held(a, limit: 10, now: 1100 + HoldFrontier.headScanMillis)
        #expect(externalIDs(fourth.items) == (1...8).map { "\($0)" }, "the frontier's claim came short: the head's items join it, in claim order")
        fourth.release()
    }

    /// A wrong new-row hint inside a held batch is redone conflict-handled without letting go of the rows.
    @Test func aWrongNewRowHintIsAbsorbedInsideTheHold() throws {
        let (a, b) = try hosts("hint", events: [event("1"), event("2")])
        let batch = try held(a)
        func ledger(_ id: String, event: Int64) -> [LedgerEntry] {
            [LedgerEntry(key: "D", tenant: "t", connection: "erp", entity: "Account", externalID: id, eventID: event, expectedNew: true)]
        }
        try batch.finish([WorkOutcome(workID: batch.items[0].id, disposition: .done, ledger: ledger("X-D", event: 60)),
                          WorkOutcome(workID: batch.items[1].id, disposition: .done, ledger: ledger("X-D2", event: 70))], now: 1100)
        #expect(try b.ledger(keys: ["D"]) == ["D": LedgerWrite(externalID: "X-D", eventID: 70)])
        #expect(try b.stats(tenant: "t").done == 2)
    }
}
