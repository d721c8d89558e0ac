import SwitchboardCore
import Synchronization

extension SQLiteStore {
    public func ingest(_ batch: IngestBatch, now: Millis) throws -> IngestOutcome {
        try writer.write { db in try WriterProfile.measure(.ingest) { try Self.ingest(batch, now: now, db: db) } }
    }

    static func ingest(_ batch: IngestBatch, now: Millis, db: SQLiteConnection) throws -> IngestOutcome {
        var outcome = IngestOutcome(inserted: 0, duplicates: 0, rejected: 0)
        outcome.inserted = try insertEvents(batch.events, now: now, db: db)
        outcome.duplicates = batch.events.count - outcome.inserted
        for record in batch.rejected {
            // The record itself is kept in the event log (no work), so it can be replayed once fixed.
            guard let id = try insertEvent(StoreShared.rejectedEvent(record), now: now, db: db) else {
                outcome.duplicates += 1
                continue
            }
            try db.run("""
                INSERT INTO exceptions (tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics,
                    attempts, amount, currency, first_tried_at, last_tried_at, status, created_at)
                VALUES (?, NULL, ?, ?, ?, NULL, ?, ?, ?, 0, ?, ?, ?, ?, 'open', ?)
                """, .text(record.tenant), .int(id), .text(record.type), .text(record.externalID), .text(record.source),
                       .text(record.reason), .text(DiagnosticCoding.encode(record.diagnostics)), .optional(record.amount),
                       .optional(record.currency), .int(now), .int(now), .int(now))
            outcome.rejected += 1
        }
        try upsertXref(batch.seen, now: now, db: db)
        if let cursor = batch.cursor {
            try db.run("""
                INSERT INTO cursors (tenant, connection, stream, state, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant, connection, stream) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """, .text(cursor.tenant), .text(cursor.connection), .text(cursor.stream), .blob(cursor.state), .int(now))
        }
        return outcome
    }

    static let insertEventRows = RowStatement(tuple: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") { """
        INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, amount, currency, meta, received_at)
        VALUES \($0) ON CONFLICT (dedupe_key) DO NOTHING
        """ }
    static let insertWorkRows = RowStatement(tuple: "(?, ?, ?, 'pending', 0, ?, ?)") { """
        INSERT INTO work (event_id, tenant, workflow, status, attempts, next_attempt_at, created_at) VALUES \($0)
        """ }

    /// Binds one event's values in `insertEventRows`' tuple order.
    static func bindEvent(_ e: NewEvent, now: Millis, _ bind: inout RowBinder) throws {
        try bind(.text(e.tenant)); try bind(.text(e.source)); try bind(.text(e.type)); try bind(.text(e.entity))
        try bind(.text(e.externalID)); try bind(.text(e.dedupeKey)); try bind(.blob(e.payload)); try bind(.optional(e.amount))
        try bind(.optional(e.currency)); try bind(.optional(e.meta)); try bind(.int(now))
    }

    /// Appends events (redeliveries dropped by dedupe key) and queues their work, a chunk of rows per statement.
    /// Returns how many were new.
    static func insertEvents(_ events: [NewEvent], now: Millis, db: SQLiteConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        // Not `RETURNING` (its cost: docs/PERFORMANCE.md, "Figures behind choices"). A statement's inserted rows take consecutive ids in
        // the order of its rows (each new rowid is one more than the largest), so a chunk that inserted every row
        // needs no reading back; one with redeliveries reads its new ids' keys back (the first occurrence of a key
        // in the batch owns its row, later ones were dropped).
        var work: [StoreShared.NewWork] = []
        var inserted = 0
        var counts = TenantCounts()
        func queue(_ i: Int, eventID: Int64) {
            counts.add(events[i].tenant, "events", 1)
            for workflow in events[i].workflows { work.append(StoreShared.NewWork(eventID: eventID, eventIndex: i, workflow: workflow)) }
        }
        try db.forEachChunk(insertEventRows, count: events.count, bind: { i, bind in try bindEvent(events[i], now: now, &bind) },
                            ran: { statement, chunk in
            while try statement.step() {}
            let count = db.changes, last = db.lastInsertRowID
            inserted += count
            if count == chunk.count {
                for (offset, i) in chunk.enumerated() { queue(i, eventID: last - Int64(count) + 1 + Int64(offset)) }
            } else if count > 0 {
                var ids: [String: Int64] = [:]
                for (id, key) in try db.query("SELECT id, dedupe_key FROM events WHERE id > ? AND id <= ?",
                                              [.int(last - Int64(count)), .int(last)], { ($0.int(0), $0.text(1)) }) {
                    ids[key] = id
                }
                for i in chunk { if let id = ids.removeValue(forKey: events[i].dedupeKey) { queue(i, eventID: id) } }
            }
        })
        try db.runRows(insertWorkRows, count: work.count) { i, bind in
            try bind(.int(work[i].eventID)); try bind(.text(events[work[i].eventIndex].tenant)); try bind(.text(work[i].workflow))
            try bind(.int(now)); try bind(.int(now))
        }
        for w in work { counts.add(events[w.eventIndex].tenant, "work.pending", 1) }
        try counts.write(db)
        return inserted
    }

    /// Inserts one event (no work): `insertEventRows` with one row. Nil when its dedupe key is already in the log.
    static func insertEvent(_ e: NewEvent, now: Millis, db: SQLiteConnection) throws -> Int64? {
        var id: Int64?
        try db.forEachChunk(insertEventRows, count: 1, bind: { _, bind in try bindEvent(e, now: now, &bind) }, ran: { statement, _ in
            while try statement.step() {}
            if db.changes == 1 { id = db.lastInsertRowID }
        })
        if id != nil {
            var counts = TenantCounts()
            counts.add(e.tenant, "events", 1)
            try counts.write(db)
        }
        return id
    }

    static let upsertXrefRows = RowStatement(tuple: "(?, ?, ?, ?, ?, ?, ?)") { """
        INSERT INTO xref (tenant, entity, canonical_id, connection, external_id, content, updated_at) VALUES \($0)
        ON CONFLICT (tenant, entity, connection, external_id) DO UPDATE SET
            canonical_id = excluded.canonical_id,
            content = COALESCE(excluded.content, xref.content),
            updated_at = excluded.updated_at
        """ }

    /// Upserts xref entries in order (a later entry for a key wins, as applied one by one).
    static func upsertXref(_ entries: [XrefKey], now: Millis, db: SQLiteConnection) throws {
        try db.runRows(upsertXrefRows, count: entries.count) { i, bind in
            let x = entries[i]
            try bind(.text(x.tenant)); try bind(.text(x.entity)); try bind(.text(x.canonicalID)); try bind(.text(x.connection))
            try bind(.text(x.externalID)); try bind(x.content.map { .blob($0) } ?? .null); try bind(.int(now))
        }
    }

    public func cursor(tenant: String, connection: String, stream: String) throws -> [UInt8]? {
        try read { db in
            try db.query("SELECT state FROM cursors WHERE tenant = ? AND connection = ? AND stream = ?",
                         [.text(tenant), .text(connection), .text(stream)]) { $0.blob(0) }.first
        }
    }

    public func claim(limit: Int, now: Millis, leaseMillis: Millis) throws -> [ClaimedWork] {
        let taken = Mutex<[Int64]>([])
        do {
            return try writer.write { db in try WriterProfile.measure(.claim) {
                if !self.leases.knowsWaiting {
                    // Once per process, from the partial indexes of unfinished items (not the history): the items that
                    // ran and wait (to retry, or parked) hold their record's later items back.
                    self.leases.loadWaiting(try db.query("""
                        SELECT w.id, w.tenant, w.workflow, e.entity, e.external_id FROM work w INDEXED BY work_pending
                        JOIN events e ON e.id = w.event_id WHERE w.status = 'pending' AND w.attempts > 0
                        UNION ALL
                        SELECT w.id, w.tenant, w.workflow, e.entity, e.external_id FROM work w INDEXED BY work_parked
                        JOIN events e ON e.id = w.event_id WHERE w.status = 'parked'
                        """) { (id: $0.int(0), key: InProcessLeases.Key(StoreShared.orderingKey(
                            tenant: $0.text(1), workflow: $0.text(2), entity: $0.text(3), externalID: $0.text(4)))) })
                }
                // Due items from the pending index (ids only: skipping the leased ones costs no payload reads), then the rows
                // of the first `limit` not leased (the ids bound as one JSON array: the statement's text stays fixed, so it is
                // prepared once), then the ones their ordering lets run now are leased.
                let due = try db.query("""
                    SELECT id FROM work WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                    """, [.int(now), .int(Int64(limit + self.leases.activeCount(now: now)))]) { $0.int(0) }
                let candidates = self.leases.notRunning(due, limit: limit, now: now)
                guard !candidates.isEmpty else { return [] }
                // json_each drives the join (CROSS JOIN keeps it outside), so rows come in the candidates' order; that is
                // checked, not assumed (an ORDER BY would sort every row, payload included, in a temporary b-tree).
                var rows = try db.query("""
                    SELECT w.id, w.event_id, w.tenant, w.workflow, w.attempts, w.first_tried_at, w.created_at,
                           e.source, e.type, e.entity, e.external_id, e.dedupe_key, e.payload, e.amount, e.currency, e.received_at, e.meta
                    FROM json_each(?) j CROSS JOIN work w ON w.id = j.value CROSS JOIN events e ON e.id = w.event_id
                    """, [.text("[" + candidates.map(String.init).joined(separator: ",") + "]")]) { r in
                    ClaimedWork(id: r.int(0), eventID: r.int(1), tenant: r.text(2), workflow: r.text(3), attempts: Int(r.int(4)),
                                firstTriedAt: r.optionalInt(5), createdAt: r.int(6),
                                event: StoredEvent(id: r.int(1), tenant: r.text(2), source: r.text(7), type: r.text(8), entity: r.text(9),
                                                   externalID: r.text(10), dedupeKey: r.text(11), payload: r.blob(12),
                                                   amount: r.optionalText(13), currency: r.optionalText(14), meta: r.optionalText(16),
                                                   receivedAt: r.int(15)))
                }
                if !rows.lazy.map(\.id).elementsEqual(candidates) {
                    let position = Dictionary(uniqueKeysWithValues: candidates.enumerated().map { ($1, $0) })
                    rows.sort { position[$0.id]! < position[$1.id]! }
                }
                let ids = Set(self.leases.take(rows.map {
                    InProcessLeases.Candidate(id: $0.id, tenant: $0.tenant, key: InProcessLeases.Key(StoreShared.orderingKey(
                        tenant: $0.tenant, workflow: $0.workflow, entity: $0.event.entity, externalID: $0.event.externalID)))
                }, limit: limit, now: now, leaseMillis: leaseMillis))
                taken.withLock { $0 = Array(ids) }
                if ids.count < rows.count { rows.removeAll { !ids.contains($0.id) } }
                return rows
            } }
        } catch {
            leases.release(taken.withLock { $0 })
            throw error
        }
    }

    public func finish(_ outcomes: [WorkOutcome], now: Millis) throws {
        let ids = outcomes.map(\.workID)
        let claimedAt = leases.claimedAt(ids)
        // Committed or not, these leases end: a finish that did not commit leaves its items pending, to run again.
        defer { leases.release(ids) }
        // Encoded on the caller's thread: the single writer thread is the store's bottleneck.
        let encoded = outcomes.map { EncodedOutcome(outcome: $0, triedAt: claimedAt[$0.workID] ?? now, steps: StepCoding.encode($0.steps),
                                                    error: $0.diagnostics.isEmpty ? nil : DiagnosticCoding.encode($0.diagnostics)) }
        try writer.write { db in try Self.finish(encoded, now: now, db: db) }
        leases.finished(outcomes.map { outcome in
            switch outcome.disposition {
            case .retry, .parked: (outcome.workID, waits: true)
            case .done, .exception: (outcome.workID, waits: false)
            }
        })
    }

    /// An outcome with what the writer stores of it, encoded off the writer thread. `triedAt` is when its
    /// attempt was claimed (the lease was in memory until now).
    struct EncodedOutcome {
        var outcome: WorkOutcome
        var triedAt: Millis
        var steps: String
        var error: String?
    }

    static let upsertLedgerRows = RowStatement(tuple: "(?, ?, ?, ?, ?, ?, ?)") { """
        INSERT INTO ledger (idempotency_key, tenant, connection, entity, external_id, created_at, event_id) VALUES \($0)
        ON CONFLICT (idempotency_key) DO UPDATE SET event_id = excluded.event_id
        WHERE excluded.event_id > coalesce(ledger.event_id, 0)
        """ }

    /// Records a batch of outcomes: each kind of row for the whole batch at once (the rows of one outcome
    /// touch different tables, so this order is as good as outcome by outcome).
    static func finish(_ outcomes: [EncodedOutcome], now: Millis, db: SQLiteConnection) throws {
        try WriterProfile.measure(.ledger) {
            // (outcome, entry) pairs: the entries are bound where they are, not copied into one array first.
            let entries = outcomes.indices.flatMap { o in outcomes[o].outcome.ledger.indices.map { (o, $0) } }
            _ = try db.runRows(upsertLedgerRows, count: entries.count) { i, bind in
                let entry = outcomes[entries[i].0].outcome.ledger[entries[i].1]
                try bind(.text(entry.key)); try bind(.text(entry.tenant)); try bind(.text(entry.connection)); try bind(.text(entry.entity))
                try bind(.text(entry.externalID)); try bind(.int(now)); try bind(.optional(entry.eventID))
            }
        }
        try WriterProfile.measure(.xref) { try upsertXref(outcomes.flatMap(\.outcome.xref), now: now, db: db) }
        try WriterProfile.measure(.emitted) { _ = try insertEvents(outcomes.flatMap(\.outcome.emitted), now: now, db: db) }
        try WriterProfile.measure(.work) {
            var done: [Int] = []
            for (i, e) in outcomes.enumerated() {
                if case .done = e.outcome.disposition { done.append(i) } else { try finishWork(e, now: now, db: db) }
            }
            try finishDone(outcomes, done, now: now, db: db)
        }
    }

    /// The work rows of items done (`which` of `outcomes`), one prepared update each.
    static func finishDone(_ outcomes: [EncodedOutcome], _ which: [Int], now: Millis, db: SQLiteConnection) throws {
        try db.runEach("""
            UPDATE work SET status = 'done', attempts = attempts + 1, lease_until = NULL, first_tried_at = COALESCE(first_tried_at, ?1),
                last_tried_at = ?1, finished_at = ?2, steps = ?3, last_status = 'OK', connection = ?4 WHERE id = ?5
            """, count: which.count) { i, bind in
            let e = outcomes[which[i]]
            try bind(.int(e.triedAt)); try bind(.int(now)); try bind(.text(e.steps)); try bind(.optional(e.outcome.connection))
            try bind(.int(e.outcome.workID))
        }
    }

    /// The work row's new state, and its exception item when it has one.
    static func finishWork(_ e: EncodedOutcome, now: Millis, db: SQLiteConnection) throws {
        let (o, triedAt, steps, error) = (e.outcome, e.triedAt, e.steps, e.error)
        // The attempt's time is bound first (?1), so every statement's text stays fixed and stays prepared.
        let attempt = "attempts = attempts + 1, lease_until = NULL, first_tried_at = COALESCE(first_tried_at, ?1), last_tried_at = ?1"
        switch o.disposition {
        case .done:
            try finishDone([e], [0], now: now, db: db)
        case .retry(let at, let status):
            try db.run("""
                UPDATE work SET status = 'pending', \(attempt), next_attempt_at = ?, steps = ?, last_status = ?, last_error = ?, connection = ?
                WHERE id = ?
                """, .int(triedAt), .int(at), .text(steps), .text(status.description), .optional(error), .optional(o.connection), .int(o.workID))
        case .parked:
            try db.run("""
                UPDATE work SET status = 'parked', \(attempt), steps = ?, last_status = 'AUTH', last_error = ?, connection = ? WHERE id = ?
                """, .int(triedAt), .text(steps), .optional(error), .optional(o.connection), .int(o.workID))
        case .exception(let reason):
            try db.run("""
                UPDATE work SET status = 'exception', \(attempt), finished_at = ?, steps = ?, last_status = ?, last_error = ?, connection = ?
                WHERE id = ?
                """, .int(triedAt), .int(now), .text(steps), .text(reason), .optional(error), .optional(o.connection), .int(o.workID))
            try db.run("""
                INSERT INTO exceptions (tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics,
                    attempts, amount, currency, first_tried_at, last_tried_at, status, created_at)
                SELECT w.tenant, w.id, w.event_id, e.type, e.external_id, w.workflow, ?, ?, ?, w.attempts, e.amount, e.currency,
                    w.first_tried_at, w.last_tried_at, 'open', ?
                FROM work w JOIN events e ON e.id = w.event_id WHERE w.id = ?
                """, .optional(o.connection), .text(reason), .text(error ?? "[]"), .int(now), .int(o.workID))
        }
    }

    public func releaseLeasesOfDeadHost(now: Millis) throws -> Int {
        try writer.write { db in
            try db.run("UPDATE work SET status = 'pending', lease_until = NULL, next_attempt_at = ? WHERE status = 'running'", .int(now))
        }
    }

    public func hasUnfinishedWork() throws -> Bool {
        try read { db in
            try db.query("""
                SELECT EXISTS (SELECT 1 FROM work WHERE status = 'pending') OR EXISTS (SELECT 1 FROM work WHERE status = 'running')
                """) { $0.int(0) }.first == 1
        }
    }

    public func ledger(keys: [String]) throws -> [String: LedgerWrite] {
        guard !keys.isEmpty else { return [:] }
        return try read { db in
            try StoreShared.resolveLedger(keys: keys, hashedRowsExist: ledgerHasHashedKeys) { keys in
                // One statement for the whole batch (the keys bound as one JSON array, so its text is fixed and stays prepared;
                // the array is written directly: a JSON tree of the keys first was most of the lookup in `bench runtime`).
                var found: [String: LedgerWrite] = [:]
                for (key, write) in try db.query("""
                    SELECT idempotency_key, external_id, event_id FROM ledger WHERE idempotency_key IN (SELECT value FROM json_each(?))
                    """, [.text(JSON.arrayText(keys))], { ($0.text(0), LedgerWrite(externalID: $0.text(1), eventID: $0.optionalInt(2))) }) {
                    found[key] = write
                }
                return found
            }
        }
    }

    public func xref(tenant: String, entity: String, connection: String, externalID: String) throws -> XrefKey? {
        try read { db in
            let stored = try db.query("""
                SELECT canonical_id, content FROM xref WHERE tenant = ? AND entity = ? AND connection = ? AND external_id = ?
                """, [.text(tenant), .text(entity), .text(connection), .text(externalID)]) { r in
                XrefKey(tenant: tenant, entity: entity, canonicalID: r.text(0), connection: connection, externalID: externalID,
                        content: r.isNull(1) ? nil : r.blob(1))
            }.first
            return try stored ?? DerivedOrigin.lookup(tenant: tenant, entity: entity, connection: connection, externalID: externalID) {
                try !Self.storedXref(tenant: tenant, entity: entity, canonicalID: $0, db: db).isEmpty
            }
        }
    }

    public func xref(tenant: String, entity: String, canonicalID: String) throws -> [XrefKey] {
        try read { db in
            DerivedOrigin.adding(to: try Self.storedXref(tenant: tenant, entity: entity, canonicalID: canonicalID, db: db),
                                 tenant: tenant, entity: entity, canonicalID: canonicalID)
        }
    }

    static func storedXref(tenant: String, entity: String, canonicalID: String, db: SQLiteConnection) throws -> [XrefKey] {
        try db.query("""
            SELECT connection, external_id, content FROM xref INDEXED BY xref_canonical
            WHERE tenant = ? AND entity = ? AND canonical_id = ?
            """, [.text(tenant), .text(entity), .text(canonicalID)]) { r in
            XrefKey(tenant: tenant, entity: entity, canonicalID: canonicalID, connection: r.text(0), externalID: r.text(1),
                    content: r.isNull(2) ? nil : r.blob(2))
        }.sorted { $0.connection < $1.connection }
        // (Sorted here: an ORDER BY lets the planner pick the primary key and scan every row of the entity.)
    }

    public func event(id: Int64) throws -> StoredEvent? {
        try read { db in
            try db.query("""
                SELECT id, tenant, source, type, entity, external_id, dedupe_key, payload, amount, currency, received_at, meta
                FROM events WHERE id = ?
                """, [.int(id)]) { r in
                StoredEvent(id: r.int(0), tenant: r.text(1), source: r.text(2), type: r.text(3), entity: r.text(4), externalID: r.text(5),
                            dedupeKey: r.text(6), payload: r.blob(7), amount: r.optionalText(8), currency: r.optionalText(9),
                            meta: r.optionalText(11), receivedAt: r.int(10))
            }.first
        }
    }

    public func setConnectionPaused(tenant: String, connection: String, paused: Bool, reason: String, now: Millis) throws -> Int {
        try writer.write { db in
            try db.run("""
                INSERT INTO connection_state (tenant, connection, paused, reason, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant, connection) DO UPDATE SET paused = excluded.paused, reason = excluded.reason, updated_at = excluded.updated_at
                """, .text(tenant), .text(connection), .int(paused ? 1 : 0), .text(reason), .int(now))
            guard !paused else { return 0 }
            return try db.run("""
                UPDATE work SET status = 'pending', next_attempt_at = ? WHERE status = 'parked' AND tenant = ? AND connection = ?
                """, .int(now), .text(tenant), .text(connection))
        }
    }

    public func pausedConnections() throws -> [(tenant: String, connection: String, reason: String)] {
        try read { db in
            try db.query("SELECT tenant, connection, reason FROM connection_state WHERE paused = 1 ORDER BY tenant, connection") {
                (tenant: $0.text(0), connection: $0.text(1), reason: $0.text(2))
            }
        }
    }

    public func stateValue(tenant: String, connection: String, key: String) throws -> [UInt8]? {
        try read { db in
            try db.query("SELECT value FROM kv WHERE tenant = ? AND connection = ? AND key = ?",
                         [.text(tenant), .text(connection), .text(key)]) { $0.blob(0) }.first
        }
    }

    public func setStateValue(_ value: [UInt8], tenant: String, connection: String, key: String, now: Millis) throws {
        try writer.write { db in
            try db.run("""
                INSERT INTO kv (tenant, connection, key, value, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant, connection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, .text(tenant), .text(connection), .text(key), .blob(value), .int(now))
        }
    }
}

/// Additions to `tenant_counts` gathered over a batch and written with one upsert per (tenant, name): the totals stats
/// read (docs/STORE.md "Retention") for the rows a batch inserts. Status changes are counted by a trigger.
struct TenantCounts {
    private var deltas: [String: [String: Int64]] = [:]

    mutating func add(_ tenant: String, _ name: String, _ n: Int64) { deltas[tenant, default: [:]][name, default: 0] += n }

    func write(_ db: SQLiteConnection) throws {
        for (tenant, names) in deltas {
            for (name, n) in names where n != 0 {
                try db.run("INSERT INTO tenant_counts (tenant, name, n) VALUES (?, ?, ?) ON CONFLICT (tenant, name) DO UPDATE SET n = n + excluded.n",
                           .text(tenant), .text(name), .int(n))
            }
        }
    }
}
