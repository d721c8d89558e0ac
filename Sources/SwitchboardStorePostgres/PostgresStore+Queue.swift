import PostgresNIO
import Logging
import SwitchboardCore
import SwitchboardStore

extension PostgresStore {
    public func ingest(_ batch: IngestBatch, now: Millis) throws -> IngestOutcome {
        try pool.transaction { db in
            var outcome = IngestOutcome()
            let inserted = try Self.insertEvents(batch.events, now: now, db: db).count
            outcome.inserted = inserted
            outcome.duplicates = batch.events.count - inserted
            for record in batch.rejected {
                let event = StoreShared.rejectedEvent(record)
                guard let id = try Self.insertEvents([event], now: now, db: db)[event.dedupeKey] else {
                    outcome.duplicates += 1
                    continue
                }
                try db.run("""
                    INSERT INTO exceptions (tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics,
                        attempts, amount, currency, first_tried_at, last_tried_at, status, created_at)
                    VALUES ($1, NULL, $2, $3, $4, NULL, $5, $6, $7, 0, $8, $9, $10, $10, 'open', $10)
                    """, [.text(record.tenant), .int(id), .text(record.type), .text(record.externalID), .text(record.source),
                          .text(record.reason), .text(DiagnosticCoding.encode(record.diagnostics)), .optional(record.amount),
                          .optional(record.currency), .int(now)])
                outcome.rejected += 1
            }
            try Self.upsertXref(batch.seen, now: now, db: db)
            if let cursor = batch.cursor {
                try db.run("""
                    INSERT INTO cursors (tenant, connection, stream, state, updated_at) VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (tenant, connection, stream) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                    """, [.text(cursor.tenant), .text(cursor.connection), .text(cursor.stream), .bytes(cursor.state), .int(now)])
            }
            return outcome
        }
    }

    /// Appends events in one statement (redeliveries dropped by dedupe key, also across hosts: the unique
    /// index makes a concurrent insert of the same key wait, then skip) and queues their work.
    /// Returns the ids of the new ones by dedupe key.
    @discardableResult
    static func insertEvents(_ events: [NewEvent], now: Millis, db: PGSession) throws -> [String: Int64] {
        guard !events.isEmpty else { return [:] }
        let rows = try db.queryPrepared("""
            INSERT INTO events (tenant, source, type, entity, external_id, dedupe_key, payload, amount, currency, meta, received_at)
            SELECT t, s, ty, en, x, k, p, NULLIF(a, ''), NULLIF(c, ''), NULLIF(m, ''), $11::bigint
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::text[], $10::text[])
                WITH ORDINALITY AS u(t, s, ty, en, x, k, p, a, c, m, ord)
            ORDER BY ord
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id, dedupe_key
            """, [.texts(events.map(\.tenant)), .texts(events.map(\.source)), .texts(events.map(\.type)), .texts(events.map(\.entity)),
                  .texts(events.map(\.externalID)), .texts(events.map(\.dedupeKey)), .byteArrays(events.map(\.payload)),
                  .texts(events.map { $0.amount ?? "" }), .texts(events.map { $0.currency ?? "" }), .texts(events.map { $0.meta ?? "" }),
                  .int(now)])
        var ids: [String: Int64] = [:]
        for row in rows { ids[try row.text(1)] = try row.int(0) }
        let work = StoreShared.newWork(events, inserted: ids)
        let eventIDs = work.map(\.eventID), tenants = work.map { events[$0.eventIndex].tenant }, workflows = work.map(\.workflow)
        let keys = work.map { w in
            let e = events[w.eventIndex]
            return StoreShared.orderingKey(tenant: e.tenant, workflow: w.workflow, entity: e.entity, externalID: e.externalID)
        }
        if !eventIDs.isEmpty {
            try db.runPrepared("""
                INSERT INTO work (event_id, tenant, workflow, ordering_key, status, attempts, next_attempt_at, created_at)
                SELECT e, t, w, k, 'pending', 0, $5::bigint, $5::bigint FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(e, t, w, k, ord)
                ORDER BY ord
                """, [.ints(eventIDs), .texts(tenants), .texts(workflows), .texts(keys), .int(now)])
        }
        return ids
    }

    /// Writes xref links: those expected new (see `plainlyInsertable`) with a plain insert, the rest upserted.
    static func upsertXref(_ entries: [XrefKey], now: Millis, trustHints: Bool = false, db: PGSession) throws {
        guard !entries.isEmpty else { return }
        let (plain, rest) = plainlyInsertable(entries, trustHints: trustHints, key: xrefKey, expectedNew: \.expectedNew)
        try writeXref(plain, now: now, conflict: nil, db: db)
        // Applied one by one, the last entry for a key would win.
        try writeXref(onePerKey(rest, key: xrefKey) { _, later in later }, now: now, conflict: """
            ON CONFLICT (tenant, entity, connection, external_id) DO UPDATE SET
                canonical_id = excluded.canonical_id,
                content = COALESCE(excluded.content, xref.content),
                updated_at = excluded.updated_at
            """, db: db)
    }

    private static func xrefKey(_ x: XrefKey) -> String { "\(x.tenant)\u{1F}\(x.entity)\u{1F}\(x.connection)\u{1F}\(x.externalID)" }

    /// One statement for `rows` (keys unique among them), `conflict` its ON CONFLICT clause (nil: none).
    private static func writeXref(_ rows: [XrefKey], now: Millis, conflict: String?, db: PGSession) throws {
        guard !rows.isEmpty else { return }
        // Sorted in the key's own order (its columns are COLLATE "C"): rows reach the index in order, hosts lock
        // keys in one order, and each comparison is a memcmp, not the database locale's strcoll.
        try db.runPrepared("""
            INSERT INTO xref (tenant, entity, canonical_id, connection, external_id, content, updated_at)
            SELECT t, en, cid, c, x, CASE WHEN has = 't' THEN b END, $8::bigint
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[]) AS u(t, en, cid, c, x, b, has)
            ORDER BY t COLLATE "C", en COLLATE "C", c COLLATE "C", x COLLATE "C"
            \(conflict ?? "")
            """, [.texts(rows.map(\.tenant)), .texts(rows.map(\.entity)), .texts(rows.map(\.canonicalID)),
                  .texts(rows.map(\.connection)), .texts(rows.map(\.externalID)), .byteArrays(rows.map { $0.content ?? [] }),
                  .texts(rows.map { $0.content == nil ? "f" : "t" }), .int(now)])
    }

    /// Splits rows into those to insert without conflict handling and the rest, each in batch order: a row goes
    /// in plainly when its writer expected it new and no row of the rest has its key (those apply in order, by the
    /// upsert). A hinted row that exists after all, or a key hinted twice, fails the insert with a unique violation,
    /// and `finish` runs again with `trustHints` false (docs/STORE.md, guarantee 3).
    static func plainlyInsertable<Row>(_ rows: [Row], trustHints: Bool, key: (Row) -> String,
                                       expectedNew: (Row) -> Bool) -> (plain: [Row], rest: [Row]) {
        guard trustHints else { return ([], rows) }
        var plain: [Row] = [], rest: [Row] = []
        plain.reserveCapacity(rows.count)
        for row in rows {
            if expectedNew(row) { plain.append(row) } else { rest.append(row) }
        }
        // Usually there is no rest (a batch of first writes): keys are built only to keep a hinted row behind an
        // unhinted one of its key.
        guard !rest.isEmpty, !plain.isEmpty else { return (plain, rest) }
        let restKeys = Set(rest.map(key))
        guard plain.contains(where: { restKeys.contains(key($0)) }) else { return (plain, rest) }
        return (rows.filter { expectedNew($0) && !restKeys.contains(key($0)) }, rows.filter { !expectedNew($0) || restKeys.contains(key($0)) })
    }

    public func cursor(tenant: String, connection: String, stream: String) throws -> [UInt8]? {
        try pool.with { db in
            try db.query("SELECT state FROM cursors WHERE tenant = $1 AND connection = $2 AND stream = $3",
                         [.text(tenant), .text(connection), .text(stream)]).first?.bytes(0)
        }
    }

    public func claim(limit: Int, now: Millis, leaseMillis: Millis) throws -> [ClaimedWork] {
        try pool.transaction { db in
            // Expired leases first (a dead host's items), then due pending items: two index range scans that never
            // walk past rows other hosts hold. SKIP LOCKED: a host never waits for rows another host is claiming.
            // An item waits while an older item with its ordering key is unfinished (one record's events in order).
            // The plan must walk the index in claim order and stop at the limit, and update by primary key. With
            // statistics from an empty or young table the planner would rather fetch every pending row and sort
            // them, or scan the table: a cost that grows with the backlog, paid on every claim. This transaction
            // rules those plans out.
            try db.pinIndexPlans(sorts: true)
            var claimed = try Self.lease(db, now: now, leaseMillis: leaseMillis, host: hostID, pick: Self.pickExpired, limit: limit)
            if claimed.count < limit {
                claimed += try Self.lease(db, now: now, leaseMillis: leaseMillis, host: hostID, pick: Self.pickDue, limit: limit - claimed.count)
            }
            return claimed
        }
    }

    /// An item (the work row `row`) waits while an older item with its ordering key is unfinished.
    static func notBlocked(_ row: String = "w") -> String {
        """
        NOT EXISTS (SELECT 1 FROM work o WHERE o.ordering_key = \(row).ordering_key AND o.id < \(row).id
                    AND o.status IN ('pending', 'running', 'parked'))
        """
    }

    /// Items whose lease expired ($1 now, $2 limit), locked.
    static let pickExpired = """
        SELECT w.id FROM work w WHERE w.status = 'running' AND w.lease_until <= $1::bigint AND \(notBlocked())
        ORDER BY w.lease_until LIMIT $2::bigint FOR UPDATE OF w SKIP LOCKED
        """

    /// Due pending items ($1 now, $2 limit) in claim order, locked.
    static let pickDue = """
        SELECT w.id FROM work w WHERE w.status = 'pending' AND w.next_attempt_at <= $1::bigint AND \(notBlocked())
        ORDER BY w.next_attempt_at, w.id LIMIT $2::bigint FOR UPDATE OF w SKIP LOCKED
        """

    /// What a claim returns, as one row of arrays over `u` (the work rows) joined to `e` (their events).
    static let claimColumns = """
        array_agg(u.id), array_agg(u.event_id), array_agg(u.tenant), array_agg(u.workflow), array_agg(u.attempts::bigint),
            array_agg(u.first_tried_at), array_agg(u.created_at), array_agg(u.next_attempt_at), array_agg(e.source),
            array_agg(e.type), array_agg(e.entity), array_agg(e.external_id), array_agg(e.dedupe_key), array_agg(e.payload),
            array_agg(e.amount), array_agg(e.currency), array_agg(e.received_at), array_agg(e.meta)
        """

    /// Leases the rows `pick` selects ($1 now, $2 limit) to `host` and returns them with their events.
    static func lease(_ db: PGSession, now: Millis, leaseMillis: Millis, host: String, pick: String, limit: Int) throws -> [ClaimedWork] {
        // Two statements: the ids first, then the update by primary key with the ids as a parameter. In one
        // statement the planner cannot see how many rows the pick yields and chose to scan the table.
        let ids = try db.queryPrepared(pick, [.int(now), .int(Int64(limit))]).map { try $0.int(0) }
        guard !ids.isEmpty else { return [] }
        // The batch comes back as one row of arrays, a column each (see PGArray), in the order of the arrays'
        // shared aggregation; sorted here into claim order.
        let row = try db.queryPrepared("""
            WITH u AS (
                UPDATE work SET status = 'running', lease_until = $1::bigint + $3::bigint, lease_owner = $4::text,
                    lease_recoveries = lease_recoveries + CASE WHEN work.status = 'running' THEN 1 ELSE 0 END,
                    first_tried_at = COALESCE(first_tried_at, $1::bigint), last_tried_at = $1::bigint
                WHERE work.id = ANY($2::bigint[])
                RETURNING work.id, work.event_id, work.tenant, work.workflow, work.attempts, work.first_tried_at, work.created_at,
                    work.next_attempt_at
            )
            SELECT \(claimColumns)
            FROM u JOIN events e ON e.id = u.event_id
            """, [.int(now), .ints(ids), .int(leaseMillis), .text(host)])[0]
        return inClaimOrder(try claimedRows(row))
    }

    /// Claimed items sorted into claim order: oldest due first, ties by id.
    static func inClaimOrder(_ claimed: [(due: Int64, work: ClaimedWork)]) -> [ClaimedWork] {
        // Swift's sort finds a run already in order in one pass, so a batch that came in claim order costs no moves.
        claimed.sorted { ($0.due, $0.work.id) < ($1.due, $1.work.id) }.map(\.work)
    }

    /// Claimed items, with when each was due, from their row of arrays (`claimColumns`).
    static func claimedRows(_ row: PostgresRandomAccessRow) throws -> [(due: Int64, work: ClaimedWork)] {
        let id = try row.ints(0)
        // Every column holds one element per item, and only the nullable ones may hold NULL.
        func column<T>(_ values: [T?]) throws -> [T?] {
            guard values.count == id.count else { throw PGArray.Malformed() }
            return values
        }
        func required<T>(_ value: T?) throws -> T {
            guard let value else { throw PGArray.Malformed() }
            return value
        }
        let eventID = try column(row.ints(1)), tenant = try column(row.texts(2)), workflow = try column(row.texts(3))
        let attempts = try column(row.ints(4)), firstTriedAt = try column(row.ints(5)), createdAt = try column(row.ints(6))
        let due = try column(row.ints(7)), source = try column(row.texts(8)), type = try column(row.texts(9))
        let entity = try column(row.texts(10)), externalID = try column(row.texts(11)), dedupeKey = try column(row.texts(12))
        let payload = try column(row.byteArrays(13)), amount = try column(row.texts(14)), currency = try column(row.texts(15))
        let receivedAt = try column(row.ints(16)), meta = try column(row.texts(17))
        var claimed: [(due: Int64, work: ClaimedWork)] = []
        claimed.reserveCapacity(id.count)
        for i in id.indices {
            let work = ClaimedWork(
                id: try required(id[i]), eventID: try required(eventID[i]), tenant: try required(tenant[i]),
                workflow: try required(workflow[i]), attempts: Int(try required(attempts[i])), firstTriedAt: firstTriedAt[i],
                createdAt: try required(createdAt[i]),
                event: StoredEvent(id: try required(eventID[i]), tenant: try required(tenant[i]), source: try required(source[i]),
                                   type: try required(type[i]), entity: try required(entity[i]), externalID: try required(externalID[i]),
                                   dedupeKey: try required(dedupeKey[i]), payload: try required(payload[i]), amount: amount[i],
                                   currency: currency[i], meta: meta[i], receivedAt: try required(receivedAt[i])))
            claimed.append((try required(due[i]), work))
        }
        return claimed
    }

    public func finish(_ outcomes: [WorkOutcome], now: Millis) throws {
        guard !outcomes.isEmpty else { return }
        do {
            try pool.transaction { db in try finish(outcomes, now: now, trustHints: true, db: db) }
        } catch let error as PGError where error.isUniqueViolation {
            // A row expected new was there after all (written by another host, or a target answered with an id it
            // gave before): the first try rolled back whole; this one conflict-handles every row.
            logger.debug("a row expected new existed already; finishing the batch again with conflict handling",
                         metadata: ["items": "\(outcomes.count)"])
            try pool.transaction { db in try finish(outcomes, now: now, trustHints: false, db: db) }
        }
    }

    func finish(_ outcomes: [WorkOutcome], now: Millis, trustHints: Bool, holder: FinishHolder? = nil, db: PGSession) throws {
        let holder = holder ?? .lease(host: hostID)
        try db.pinIndexPlans()
        // Only outcomes of items this host still holds apply: a host that lost its lease (paused, partitioned)
        // must not overwrite the result of the host that took the item over. Each work row's update says so
        // itself (it locks the row, and re-checks its owner once a concurrent change commits), and the item's
        // writes are recorded only where it applied. In id order, as every host locks them.
        // Held means `lease_owner` is this host: a claim sets it and every way out of 'running' clears it.
        // (A `status = 'running'` test here let the planner walk the running index and rescan the batch
        // for each of every host's running rows: `bench hosts` ran 4 times slower.)
        let sorted = outcomes.sorted { $0.workID < $1.workID }
        var applied = Set<Int64>()
        let done = sorted.filter { if case .done = $0.disposition { return true } else { return false } }
        if !done.isEmpty {
            // The ids it updated, as one array (a row each cost the host more than the array's elements).
            let (tried, owned) = holder.clauses(parameter: 5)
            let updated = try db.queryPrepared("""
                WITH f AS (
                    UPDATE work SET status = 'done', attempts = attempts + 1, finished_at = $4::bigint, lease_until = NULL, lease_owner = NULL,
                        steps = u.steps, last_status = 'OK', connection = NULLIF(u.conn, '')\(tried)
                    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, steps, conn)
                    WHERE work.id = u.id AND \(owned)
                    RETURNING work.id
                )
                SELECT array_agg(id) FROM f
                """, [.ints(done.map(\.workID)), .texts(done.map { StepCoding.encode($0.steps) }), .texts(done.map { $0.connection ?? "" }),
                      .int(now), holder.parameter])[0]
            for id in try updated.ints(0) {
                guard let id else { throw PGArray.Malformed() }
                applied.insert(id)
            }
        }
        for o in sorted where try Self.finishOther(o, now: now, holder: holder, db: db) { applied.insert(o.workID) }
        let kept = sorted.filter { applied.contains($0.workID) }
        let (plain, rest) = Self.plainlyInsertable(kept.flatMap(\.ledger), trustHints: trustHints, key: \.key, expectedNew: \.expectedNew)
        try Self.writeLedger(plain, now: now, conflict: nil, db: db)
        // Applied one by one, a ledger row would keep its first external id and take the newest event.
        let merged = Self.onePerKey(rest, key: \.key) { first, later in
            var row = first
            if (later.eventID ?? 0) > (first.eventID ?? 0) { row.eventID = later.eventID }
            return row
        }
        try Self.writeLedger(merged, now: now, conflict: """
            ON CONFLICT (idempotency_key) DO UPDATE SET event_id = excluded.event_id
            WHERE excluded.event_id > coalesce(ledger.event_id, 0)
            """, db: db)
        try Self.upsertXref(kept.flatMap(\.xref), now: now, trustHints: trustHints, db: db)
        try Self.insertEvents(kept.flatMap(\.emitted), now: now, db: db)
    }

    /// One row per key, in the order keys first appear, `merge` folding each later row into the one kept: one
    /// statement may not touch a row twice, so an upsert's rows must leave the state applying them one by one would.
    static func onePerKey<Row>(_ rows: [Row], key: (Row) -> String, merge: (Row, Row) -> Row) -> [Row] {
        var kept: [String: Row] = [:]
        var order: [String] = []
        for row in rows {
            let k = key(row)
            if let earlier = kept[k] { kept[k] = merge(earlier, row) } else {
                kept[k] = row
                order.append(k)
            }
        }
        return order.map { kept[$0]! }
    }

    /// One statement for ledger `rows`, `conflict` its ON CONFLICT clause (nil: none).
    private static func writeLedger(_ rows: [LedgerEntry], now: Millis, conflict: String?, db: PGSession) throws {
        guard !rows.isEmpty else { return }
        // Sorted as the key index is (COLLATE "C"; see writeXref).
        try db.runPrepared("""
            INSERT INTO ledger (idempotency_key, tenant, connection, entity, external_id, created_at, event_id)
            SELECT k, t, c, en, x, $6::bigint, nullif(e, 0)
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::bigint[]) AS u(k, t, c, en, x, e)
            ORDER BY k COLLATE "C"
            \(conflict ?? "")
            """, [.texts(rows.map(\.key)), .texts(rows.map(\.tenant)), .texts(rows.map(\.connection)),
                  .texts(rows.map(\.entity)), .texts(rows.map(\.externalID)), .int(now),
                  .ints(rows.map { $0.eventID ?? 0 })])  // 0: no event (event ids start at 1)
    }

    /// Retries, parked items and exceptions: the rarer outcomes, one statement each. True when the item was
    /// still the holder's to finish (and is now finished); `.done` is finished in one batch by the caller.
    static func finishOther(_ o: WorkOutcome, now: Millis, holder: FinishHolder, db: PGSession) throws -> Bool {
        if case .done = o.disposition { return false }
        let steps = StepCoding.encode(o.steps)
        let error: PGValue = o.diagnostics.isEmpty ? .null : .text(DiagnosticCoding.encode(o.diagnostics))
        switch o.disposition {
        case .done:
            return false  // (returned above, before encoding anything)
        case .retry(let at, let status):
            let (tried, owned) = holder.clauses(parameter: 7)
            return try db.run("""
                UPDATE work SET status = 'pending', attempts = attempts + 1, next_attempt_at = $1, lease_until = NULL, lease_owner = NULL,
                    steps = $2, last_status = $3, last_error = $4, connection = $5\(tried) WHERE id = $6 AND \(owned)
                """, [.int(at), .text(steps), .text(status.description), error, .optional(o.connection), .int(o.workID), holder.parameter]) == 1
        case .parked:
            let (tried, owned) = holder.clauses(parameter: 5)
            return try db.run("""
                UPDATE work SET status = 'parked', attempts = attempts + 1, lease_until = NULL, lease_owner = NULL, steps = $1,
                    last_status = 'AUTH', last_error = $2, connection = $3\(tried) WHERE id = $4 AND \(owned)
                """, [.text(steps), error, .optional(o.connection), .int(o.workID), holder.parameter]) == 1
        case .exception(let reason):
            let (tried, owned) = holder.clauses(parameter: 7)
            guard try db.run("""
                UPDATE work SET status = 'exception', attempts = attempts + 1, lease_until = NULL, lease_owner = NULL, finished_at = $1,
                    steps = $2, last_status = $3, last_error = $4, connection = $5\(tried) WHERE id = $6 AND \(owned)
                """, [.int(now), .text(steps), .text(reason), error, .optional(o.connection), .int(o.workID), holder.parameter]) == 1 else { return false }
            try db.run("""
                INSERT INTO exceptions (tenant, work_id, event_id, event_type, external_id, workflow, connection, reason, diagnostics,
                    attempts, amount, currency, first_tried_at, last_tried_at, status, created_at)
                SELECT w.tenant, w.id, w.event_id, e.type, e.external_id, w.workflow, $1, $2, $3, w.attempts, e.amount, e.currency,
                    w.first_tried_at, w.last_tried_at, 'open', $4
                FROM work w JOIN events e ON e.id = w.event_id WHERE w.id = $5
                """, [.optional(o.connection), .text(reason), .text(DiagnosticCoding.encode(o.diagnostics)), .int(now), .int(o.workID)])
            return true
        }
    }

    /// Several hosts share this store: a host cannot tell a dead host's leases from a live one's,
    /// so leases are recovered when they expire (the heartbeat keeps live ones from expiring).
    public func releaseLeasesOfDeadHost(now: Millis) throws -> Int { 0 }

    public func hasUnfinishedWork() throws -> Bool {
        try pool.transaction { db in try Self.hasUnfinishedWork(db: db) }
    }

    /// Readiness probes and drains ask this often. Left to itself the planner expects a pending row near the start
    /// of the table and scans it, through every finished item there is; the partial indexes answer at once.
    static func hasUnfinishedWork(db: PGSession) throws -> Bool {
        try db.pinIndexPlans()
        return try db.queryPrepared("""
            SELECT EXISTS (SELECT 1 FROM work WHERE status = 'pending') OR EXISTS (SELECT 1 FROM work WHERE status = 'running')
            """)[0].bool(0)
    }

    public func ledger(keys: [String]) throws -> [String: LedgerWrite] {
        guard !keys.isEmpty else { return [:] }
        return try pool.transaction { db in try Self.ledger(keys: keys, hashedRowsExist: ledgerHasHashedKeys, db: db) }
    }

    /// The ledger lookup, inside the caller's transaction (whose plans it pins to the key index).
    static func ledger(keys: [String], hashedRowsExist: Bool, db: PGSession) throws -> [String: LedgerWrite] {
        try db.pinIndexPlans()
        return try StoreShared.resolveLedger(keys: keys, hashedRowsExist: hashedRowsExist) { keys in
            var found: [String: LedgerWrite] = [:]
            for row in try db.queryPrepared("SELECT idempotency_key, external_id, event_id FROM ledger WHERE idempotency_key = ANY($1::text[])",
                                    [.texts(keys)]) {
                found[try row.text(0)] = LedgerWrite(externalID: try row.text(1), eventID: try row.optionalInt(2))
            }
            return found
        }
    }

    public func xref(tenant: String, entity: String, connection: String, externalID: String) throws -> XrefKey? {
        try pool.with { db in
            let stored = try db.query("""
                SELECT canonical_id, content FROM xref WHERE tenant = $1 AND entity = $2 AND connection = $3 AND external_id = $4
                """, [.text(tenant), .text(entity), .text(connection), .text(externalID)]).first.map { r in
                XrefKey(tenant: tenant, entity: entity, canonicalID: try r.text(0), connection: connection, externalID: externalID,
                        content: try r.optionalBytes(1))
            }
            return try stored ?? DerivedOrigin.lookup(tenant: tenant, entity: entity, connection: connection, externalID: externalID) {
                try !Self.storedXref(tenant: tenant, entity: entity, canonicalID: $0, db: db).isEmpty
            }
        }
    }

    public func xref(tenant: String, entity: String, canonicalID: String) throws -> [XrefKey] {
        try pool.with { db in
            DerivedOrigin.adding(to: try Self.storedXref(tenant: tenant, entity: entity, canonicalID: canonicalID, db: db),
                                 tenant: tenant, entity: entity, canonicalID: canonicalID)
        }
    }

    static func storedXref(tenant: String, entity: String, canonicalID: String, db: PGSession) throws -> [XrefKey] {
        try db.query("""
            SELECT connection, external_id, content FROM xref WHERE tenant = $1 AND entity = $2 AND canonical_id = $3 ORDER BY connection
            """, [.text(tenant), .text(entity), .text(canonicalID)]).map { r in
            XrefKey(tenant: tenant, entity: entity, canonicalID: canonicalID, connection: try r.text(0), externalID: try r.text(1),
                    content: try r.optionalBytes(2))
        }
    }

    public func event(id: Int64) throws -> StoredEvent? {
        try pool.with { db in
            try db.query("""
                SELECT id, tenant, source, type, entity, external_id, dedupe_key, payload, amount, currency, received_at, meta
                FROM events WHERE id = $1
                """, [.int(id)]).first.map { r in
                StoredEvent(id: try r.int(0), tenant: try r.text(1), source: try r.text(2), type: try r.text(3), entity: try r.text(4),
                            externalID: try r.text(5), dedupeKey: try r.text(6), payload: try r.bytes(7), amount: try r.optionalText(8),
                            currency: try r.optionalText(9), meta: try r.optionalText(11), receivedAt: try r.int(10))
            }
        }
    }

    public func setConnectionPaused(tenant: String, connection: String, paused: Bool, reason: String, now: Millis) throws -> Int {
        try pool.transaction { db in
            try db.run("""
                INSERT INTO connection_state (tenant, connection, paused, reason, updated_at) VALUES ($1, $2, $3 = 1, $4, $5)
                ON CONFLICT (tenant, connection) DO UPDATE SET paused = excluded.paused, reason = excluded.reason, updated_at = excluded.updated_at
                """, [.text(tenant), .text(connection), .int(paused ? 1 : 0), .text(reason), .int(now)])
            guard !paused else { return 0 }
            return try db.run("""
                UPDATE work SET status = 'pending', next_attempt_at = $1 WHERE status = 'parked' AND tenant = $2 AND connection = $3
                """, [.int(now), .text(tenant), .text(connection)])
        }
    }

    public func pausedConnections() throws -> [(tenant: String, connection: String, reason: String)] {
        try pool.with { db in
            try db.query("SELECT tenant, connection, reason FROM connection_state WHERE paused ORDER BY tenant, connection").map {
                (tenant: try $0.text(0), connection: try $0.text(1), reason: try $0.text(2))
            }
        }
    }

    public func stateValue(tenant: String, connection: String, key: String) throws -> [UInt8]? {
        try pool.with { db in
            try db.query("SELECT value FROM kv WHERE tenant = $1 AND connection = $2 AND key = $3",
                         [.text(tenant), .text(connection), .text(key)]).first?.bytes(0)
        }
    }

    public func setStateValue(_ value: [UInt8], tenant: String, connection: String, key: String, now: Millis) throws {
        try pool.with { db in
            try db.run("""
                INSERT INTO kv (tenant, connection, key, value, updated_at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (tenant, connection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [.text(tenant), .text(connection), .text(key), .bytes(value), .int(now)])
        }
    }
}
