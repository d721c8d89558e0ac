import Logging
import SwitchboardCore
import SwitchboardStore

/// Whose outcomes `finish` applies, and how it knows the rows are still theirs (docs/STORE-POSTGRES.md, guarantee 3).
enum FinishHolder {
    /// Leased rows: an outcome applies where `lease_owner` is still this host.
    case lease(host: String)
    /// Rows locked by the finishing transaction's own claim, at `claimedAt`: nothing else can have changed them,
    /// and the claim wrote nothing, so the finish writes the tried-at times the leasing claim would have.
    case held(claimedAt: Millis)

    /// For a work-row `UPDATE` whose holder parameter is `$n`: what to add to its `SET` list, and its ownership test.
    func clauses(parameter n: Int) -> (set: String, owned: String) {
        switch self {
        case .lease: return ("", "lease_owner = $\(n)::text")
        case .held: return (", first_tried_at = COALESCE(first_tried_at, $\(n)::bigint), last_tried_at = $\(n)::bigint", "TRUE")
        }
    }

    /// The holder parameter's value.
    var parameter: PGValue {
        switch self {
        case .lease(let host): return .text(host)
        case .held(let claimedAt): return .int(claimedAt)
        }
    }
}

extension PostgresStore: HeldClaims {
    /// Sessions the pool keeps for everything but held batches (ingest, heartbeats, reads, the hold records).
    static let sessionsNotHeld = 2

    public func claimHeld(limit: Int, now: Millis, leaseMillis: Millis) throws -> (any HeldBatch)? {
        guard let db = try pool.checkOut(leaving: Self.sessionsNotHeld) else { return nil }
        var items: [ClaimedWork] = []
        do {
            try db.run("BEGIN")
            try db.pinIndexPlans(sorts: true)
            // The hold's expiry: a holder silent for a lease loses its session, and the rows with it.
            try db.runPrepared("SELECT set_config('idle_in_transaction_session_timeout', $1::text, true)", [.text("\(max(leaseMillis, 1))")])
            // A leasing host's expired items first, leased to this host inside the hold (a finish clears the lease;
            // a lost hold rolls it back, and they expire again).
            items = try Self.lease(db, now: now, leaseMillis: leaseMillis, host: hostID, pick: Self.pickExpired, limit: limit)
            var due: [(due: Int64, work: ClaimedWork)] = []
            func hold(_ range: HeldRange) throws {
                let wanted = limit - items.count - due.count
                guard wanted > 0 else { return }
                var values: [PGValue] = [.int(now), .int(Int64(wanted))]
                if case .after(let frontier) = range { values += [.int(frontier.due), .int(frontier.id)] }
                due += try Self.claimedRows(db.queryPrepared(Self.holdDue(range), values)[0])
            }
            if let frontier = holdFrontier.start(now: now) {
                try hold(.after(frontier))
                try hold(.rest)  // when that came short
            } else {
                try hold(.all)
                holdFrontier.scannedFromHead(at: now)
            }
            if let last = due.max(by: { ($0.due, $0.work.id) < ($1.due, $1.work.id) }) {
                holdFrontier.advance(to: HoldFrontier.Position(due: last.due, id: last.work.id))
            }
            items += Self.inClaimOrder(due)
        } catch {
            if !db.isClosed { _ = try? db.run("ROLLBACK") }
            pool.checkIn(db)
            throw error
        }
        guard !items.isEmpty else {
            _ = try? db.run("ROLLBACK")
            pool.checkIn(db)
            return PGHeldBatch(items: [], session: nil, claimedAt: now, record: nil, store: self)
        }
        return PGHeldBatch(items: items, session: db, claimedAt: now, record: recordHold(items, session: db, now: now), store: self)
    }

    /// Locks due pending items ($1 now, $2 limit) in claim order and returns those no older unfinished item of their
    /// key holds back, as a claim's row of arrays.
    ///
    /// Held rows stay `pending`, at the head of the pending index, and a claim that meets one pays for a look at its
    /// tuple and, to skip it, two calls into the lock manager. Claiming from the head, each claim passed
    /// over every batch all hosts held (`bench hosts`, 3 hosts: 60–90 ms a claim, the claim 45% of the server's
    /// statement time). So a claim starts after its host's frontier ($3, $4: the last item it claimed) and takes only
    /// rows never locked (`xmax = 0`: a lock, even a released one, leaves its locker there until the row is next
    /// written), which leaves behind the rows other hosts hold and the dead entries of finished ones. What that skips
    /// (a released hold's items, an item held back until its older one finished, a clock behind others') is taken by
    /// a scan from the head: for the rest of the batch when the frontier's scan comes short (skipping the rows this
    /// claim locked: they show its transaction as their locker), and for all of it at least every
    /// `HoldFrontier.headScanMillis`.
    /// The lock is tried before the per-key test, so a skipped row costs no index probe; a row held back stays locked,
    /// unreturned, until this batch ends (its older item, finished meanwhile, waits that long more), and counts in the limit.
    static func holdDue(_ range: HeldRange) -> String {
        let within: String
        switch range {
        case .all: within = ""
        case .after: within = "AND (w.next_attempt_at, w.id) > ($3::bigint, $4::bigint) AND w.xmax = 0"
        case .rest: within = "AND w.xmax <> pg_current_xact_id()::xid"
        }
        return """
        WITH c AS MATERIALIZED (
            SELECT w.id, w.event_id, w.tenant, w.workflow, w.attempts, COALESCE(w.first_tried_at, $1::bigint) AS first_tried_at,
                w.created_at, w.next_attempt_at, w.ordering_key
            FROM work w WHERE w.status = 'pending' AND w.next_attempt_at <= $1::bigint
                \(within)
            ORDER BY w.next_attempt_at, w.id LIMIT $2::bigint FOR UPDATE OF w SKIP LOCKED
        ), u AS (
            SELECT * FROM c WHERE \(notBlocked("c"))
        )
        SELECT \(claimColumns) FROM u JOIN events e ON e.id = u.event_id
        """
    }

    /// Records which session holds which items (`held_claims`), committed on another session at once, so other hosts
    /// see them. Nil when that failed: the batch is held all the same, only its count is lost.
    private func recordHold(_ items: [ClaimedWork], session: PGSession, now: Millis) -> Int64? {
        do {
            let pid = try session.backendPID()
            return try pool.transaction { db in
                // Only a count depends on this row: not worth a wait for the WAL flush.
                try db.run("SET LOCAL synchronous_commit = off")
                return try db.queryPrepared("""
                    INSERT INTO held_claims (host, backend_pid, work_ids, created_at) VALUES ($1::text, $2::bigint, $3::bigint[], $4::bigint)
                    RETURNING id
                    """, [.text(hostID), .int(Int64(pid)), .ints(items.map(\.id)), .int(now)])[0].int(0)
            }
        } catch {
            logger.warning("cannot record a held batch; its items will not show as running", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// True for a hold record `h` whose session is still there (a dead host's closed with its connection; a silent
    /// holder's was ended by the server).
    static let holderAlive = "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = h.backend_pid)"

    /// Deletes the hold record $1.
    static let forgetHoldRecord = "DELETE FROM held_claims WHERE id = $1::bigint"

    /// Forgets the hold records of sessions that are gone (a dead or silent holder), counting their items as taken
    /// over (`lease_recoveries`). Returns how many items. Run by every host's heartbeat.
    @discardableResult
    func sweepLostHolds() throws -> Int {
        try pool.with { db in
            try db.run("""
                WITH gone AS (
                    DELETE FROM held_claims h WHERE NOT \(Self.holderAlive)
                    RETURNING work_ids
                )
                UPDATE work SET lease_recoveries = lease_recoveries + 1 WHERE id IN (SELECT unnest(work_ids) FROM gone)
                """)
        }
    }

    /// The finish of a held batch, in its transaction: the outcomes under a savepoint, so a wrong new-row hint (a
    /// unique violation) or a deadlock is run again without letting go of the rows.
    func finishHeld(_ outcomes: [WorkOutcome], now: Millis, claimedAt: Millis, record: Int64?, db: PGSession) throws {
        var trustHints = true
        var attempt = 0
        while true {
            attempt += 1
            try db.run("SAVEPOINT outcomes")
            do {
                try finish(outcomes, now: now, trustHints: trustHints, holder: .held(claimedAt: claimedAt), db: db)
                try db.run("RELEASE SAVEPOINT outcomes")
                break
            } catch let error as PGError where (error.isUniqueViolation && trustHints) || (error.isTransient && attempt < 5) {
                try db.run("ROLLBACK TO SAVEPOINT outcomes")
                if error.isUniqueViolation {
                    logger.debug("a row expected new existed already; finishing the held batch again with conflict handling",
                                 metadata: ["items": "\(outcomes.count)"])
                    trustHints = false
                }
            }
        }
        if let record { try db.runPrepared(Self.forgetHoldRecord, [.int(record)]) }
    }

    /// Drops a batch's hold record after its transaction ended without a finish.
    func forgetHold(_ record: Int64, db: PGSession) {
        _ = try? db.runPrepared(Self.forgetHoldRecord, [.int(record)])
    }
}

/// Which part of the due items a held claim takes (see `PostgresStore.holdDue`).
enum HeldRange {
    /// Every due item, from the head.
    case all
    /// Items after the frontier never locked.
    case after(HoldFrontier.Position)
    /// Every due item this claim has not locked yet, from the head (after `after` came short).
    case rest
}

/// Where a host's held claims start (see `PostgresStore.holdDue`): after the last item it claimed, with a scan from
/// the queue's head when that comes short and at least every `headScanMillis`.
final class HoldFrontier: @unchecked Sendable {
    struct Position {
        var due: Int64
        var id: Int64
    }

    /// The longest an item skipped by the frontier waits under a steady backlog.
    static let headScanMillis: Millis = 2000

    private let lock = Lock()
    private var position: Position?
    private var headScannedAt: Millis?

    /// The frontier to claim after, or nil when this claim scans from the head.
    func start(now: Millis) -> Position? {
        lock.withLock {
            guard let position, let at = headScannedAt, now - at < Self.headScanMillis, now >= at else { return nil }
            return position
        }
    }

    func scannedFromHead(at now: Millis) { lock.withLock { headScannedAt = now } }

    /// Moves the frontier forward to `claimed` (never back: the head scans take what lies behind it).
    func advance(to claimed: Position) {
        lock.withLock {
            if let position, (position.due, position.id) >= (claimed.due, claimed.id) { return }
            position = claimed
        }
    }
}

/// A batch held by an open transaction on one pooled session (docs/STORE-POSTGRES.md, guarantee 3).
final class PGHeldBatch: HeldBatch, @unchecked Sendable {
    let items: [ClaimedWork]
    private let claimedAt: Millis
    private let record: Int64?
    private let store: PostgresStore
    private let lock = Lock()
    /// The holding session; nil once the hold ended.
    private var session: PGSession?

    init(items: [ClaimedWork], session: PGSession?, claimedAt: Millis, record: Int64?, store: PostgresStore) {
        self.items = items
        self.session = session
        self.claimedAt = claimedAt
        self.record = record
        self.store = store
    }

    deinit {
        // A batch dropped without an end lets go of its rows rather than keeping a session from the pool.
        if session != nil { release() }
    }

    func finish(_ outcomes: [WorkOutcome], now: Millis) throws {
        try lock.withLock {
            guard let db = takeSession() else {
                guard items.isEmpty else { throw StoreError("the hold on this batch had ended; its outcomes were not recorded") }
                return
            }
            // Only this batch's rows are locked by its transaction, so only their outcomes may apply (a held finish
            // checks no owner).
            let held = Set(items.map(\.id))
            let mine = outcomes.filter { held.contains($0.workID) }
            if mine.count < outcomes.count {
                store.logger.warning("outcomes of items not in the held batch were ignored", metadata: ["items": "\(outcomes.count - mine.count)"])
            }
            do {
                try store.finishHeld(mine, now: now, claimedAt: claimedAt, record: record, db: db)
                try db.run("COMMIT")
            } catch {
                abandon(db)
                throw error
            }
            store.pool.checkIn(db)
        }
    }

    func release() {
        lock.withLock { takeSession().map(abandon) }
    }

    @discardableResult
    func keepAlive() -> Bool {
        lock.withLock {
            guard let db = session else { return false }
            do {
                // Any statement restarts the server's idle-in-transaction timer.
                try db.runPrepared("SELECT 1::bigint")
                return true
            } catch {
                takeSession().map(abandon)
                return false
            }
        }
    }

    /// The holding session, which the hold no longer has after this (under `lock`).
    private func takeSession() -> PGSession? {
        defer { session = nil }
        return session
    }

    /// Rolls the transaction back (when the session still works), forgets the hold's record, returns the session.
    private func abandon(_ db: PGSession) {
        if !db.isClosed {
            _ = try? db.run("ROLLBACK")
            if let record { store.forgetHold(record, db: db) }
        }
        store.pool.checkIn(db)
    }
}
