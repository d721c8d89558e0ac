import SwitchboardCore

/// Logic both backends share, so the SQLite and PostgreSQL stores cannot drift apart.
public enum StoreShared {
    /// The hash of one audit row: length-prefixed fields, so no value can be crafted to shift into another.
    public static func auditHash(seq: Int64, at: Millis, actor: String, action: String, target: String, detail: String, prev: String) -> String {
        let fields = [String(seq), String(at), actor, action, target, detail, prev]
        return Hashing.hex(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|"))
    }

    /// The older form of a ledger key: its SHA-256 hex. Stores migrated from before readable ledger keys
    /// (SQLite schema v4, PostgreSQL v2) hold rows under it; it is also the idempotency key targets see.
    public static func hashedLedgerKey(_ key: String) -> String { Hashing.hex(key) }

    /// One record's events through one workflow run in order, one at a time: the key both stores' claims order by.
    public static func orderingKey(tenant: String, workflow: String, entity: String, externalID: String) -> String {
        "\(tenant)\u{1F}\(workflow)\u{1F}\(entity)\u{1F}\(externalID)"
    }

    /// Resolves ledger keys to the external ids written under them. Where the store still holds rows
    /// under hashed keys, keys not found are looked up once more in that form.
    public static func resolveLedger(keys: [String], hashedRowsExist: Bool,
                                     lookup: ([String]) throws -> [String: LedgerWrite]) rethrows -> [String: LedgerWrite] {
        var found = try lookup(keys)
        guard hashedRowsExist else { return found }
        var byHash: [String: String] = [:]
        for key in keys where found[key] == nil { byHash[hashedLedgerKey(key)] = key }
        guard !byHash.isEmpty else { return found }
        for (hash, externalID) in try lookup(Array(byHash.keys)) {
            if let key = byHash[hash] { found[key] = externalID }
        }
        return found
    }

    /// One work item to create: an inserted event (by its index in the batch) through one of its workflows.
    public struct NewWork {
        public var eventID: Int64
        public var eventIndex: Int
        public var workflow: String
    }

    /// The work items of the events an insert kept, in the events' order (fresh items become due in the order
    /// they were made). `inserted` maps the dedupe keys the insert returned to their ids; the first occurrence
    /// of a key in the batch owns its row, later ones were redeliveries.
    public static func newWork(_ events: [NewEvent], inserted: [String: Int64]) -> [NewWork] {
        var unclaimed = inserted
        var work: [NewWork] = []
        work.reserveCapacity(inserted.count)
        for (index, event) in events.enumerated() {
            guard let id = unclaimed.removeValue(forKey: event.dedupeKey) else { continue }
            for workflow in event.workflows { work.append(NewWork(eventID: id, eventIndex: index, workflow: workflow)) }
        }
        return work
    }

    /// The event-log entry a rejected record is kept as (no work), so it can be replayed once fixed.
    public static func rejectedEvent(_ record: RejectedRecord) -> NewEvent {
        let key = "rejected:\(record.tenant):\(record.source):\(record.type):\(record.externalID):\(Hashing.hex(record.payload))"
        return NewEvent(tenant: record.tenant, source: record.source, type: record.type, entity: record.entity,
                        externalID: record.externalID, dedupeKey: key, payload: record.payload,
                        amount: record.amount, currency: record.currency, workflows: [])
    }

    /// One audit row as read back for verification.
    public struct AuditRow {
        public var seq: Int64, at: Millis, actor: String, action: String, target: String, detail: String, prevHash: String, hash: String
        public init(seq: Int64, at: Millis, actor: String, action: String, target: String, detail: String, prevHash: String, hash: String) {
            (self.seq, self.at, self.actor, self.action, self.target, self.detail, self.prevHash, self.hash) =
                (seq, at, actor, action, target, detail, prevHash, hash)
        }
    }

    /// Retention: the events pruning never touches, as a subquery both backends use. Events with unfinished work or an
    /// open exception item keep everything: their payload is what a retry (or the replay of a rejected record) runs on.
    public static let eventsInUse = """
        SELECT event_id FROM work WHERE status <> 'done'
        UNION SELECT event_id FROM exceptions WHERE status = 'open' AND event_id IS NOT NULL
        """

    /// How many of the latest completions the stats' latency figures cover.
    public static let recentLatencies = 1000

    /// The `audit.prune` row's detail: it names the checkpoint, so the chain itself vouches for where it starts.
    public static func auditPruneDetail(removed: Int, through seq: Int64, hash: String, before: Millis) -> String {
        "removed \(removed) rows older than \(before) ms; the chain continues from checkpoint seq \(seq) hash \(hash)"
    }

    /// Walks an audit chain in sequence order; `head` is the recorded last (seq, hash), nil if there is none.
    /// After pruning, the chain starts at `checkpoint` (the last removed row's seq and hash), and the newest
    /// `audit.prune` row must name that checkpoint.
    public static func verifyAudit(_ rows: some Sequence<AuditRow>, head: (Int64, String)?,
                                   checkpoint: (Int64, String)? = nil) -> AuditVerification {
        var problems: [String] = []
        var expectedSeq: Int64 = (checkpoint?.0 ?? 0) + 1
        var prev = checkpoint?.1 ?? "genesis"
        var count = 0
        var lastPruneDetail: String?
        for row in rows {
            count += 1
            if row.action == "audit.prune" { lastPruneDetail = row.detail }
            if row.seq != expectedSeq { problems.append("row \(expectedSeq)\(row.seq > expectedSeq + 1 ? "-\(row.seq - 1)" : "") is missing (deleted)") }
            if row.prevHash != prev { problems.append("row \(row.seq): previous-hash link broken (a row before it was deleted or edited)") }
            let computed = auditHash(seq: row.seq, at: row.at, actor: row.actor, action: row.action, target: row.target,
                                     detail: row.detail, prev: row.prevHash)
            if computed != row.hash { problems.append("row \(row.seq): content does not match its hash (edited)") }
            prev = row.hash
            expectedSeq = row.seq + 1
        }
        if let head {
            if head.0 != expectedSeq - 1 || head.1 != prev {
                problems.append("the trail ends at row \(expectedSeq - 1) but was written up to row \(head.0) (rows deleted at the end)")
            }
        } else if count > 0 {
            problems.append("the audit head is missing")
        }
        if let checkpoint, lastPruneDetail?.hasSuffix("checkpoint seq \(checkpoint.0) hash \(checkpoint.1)") != true {
            problems.append("the pruning checkpoint (seq \(checkpoint.0)) is not the one the trail's last audit.prune row recorded")
        }
        return AuditVerification(rows: count, problems: problems)
    }

    /// Builds the statistics from the backend's counts.
    public static func stats(events: Int, byStatus: [String: Int], openExceptions: [(reason: String, amount: String?, currency: String?)],
                             latencies: [Int64]) -> RuntimeStats {
        var byReason: [String: (count: Int, blocked: [String: String])] = [:]
        for (reason, amount, currency) in openExceptions {
            var entry = byReason[reason] ?? (0, [:])
            entry.count += 1
            if let amount, let currency { entry.blocked[currency] = DecimalText.add(entry.blocked[currency] ?? "0", amount) }
            byReason[reason] = entry
        }
        return RuntimeStats(events: events, pending: byStatus["pending"] ?? 0, running: byStatus["running"] ?? 0,
                            done: byStatus["done"] ?? 0, parked: byStatus["parked"] ?? 0,
                            openExceptions: byReason.values.reduce(0) { $0 + $1.count }, exceptionsByReason: byReason,
                            latenciesMillis: latencies)
    }
}

/// The origin's side of an xref link, where it is not stored: a transactional record's canonical id names the
/// connection and id it came from (`CanonicalID.origin`), so the executor stores only the side it wrote and both
/// stores add the origin back here. Content is tracked only for master data, whose origin rows are stored.
public enum DerivedOrigin {
    /// `keys` (the stored sides of `canonicalID`) with its origin's side, when the id names one that is not stored.
    public static func adding(to keys: [XrefKey], tenant: String, entity: String, canonicalID: String) -> [XrefKey] {
        guard !keys.isEmpty, let origin = CanonicalID.origin(of: canonicalID, entity: entity),
              !keys.contains(where: { $0.connection == origin.connection }) else { return keys }
        let derived = XrefKey(tenant: tenant, entity: entity, canonicalID: canonicalID, connection: origin.connection,
                              externalID: origin.externalID, content: nil)
        return (keys + [derived]).sorted { $0.connection < $1.connection }
    }

    /// The origin's side for a lookup by connection and id that found no stored row: there is one when a record
    /// of that origin was written somewhere (`linked` says whether the canonical id has stored rows).
    public static func lookup(tenant: String, entity: String, connection: String, externalID: String,
                       linked: (String) throws -> Bool) rethrows -> XrefKey? {
        let canonicalID = CanonicalID.make(entity: entity, source: connection, externalID: externalID)
        guard CanonicalID.origin(of: canonicalID, entity: entity) != nil, try linked(canonicalID) else { return nil }
        return XrefKey(tenant: tenant, entity: entity, canonicalID: canonicalID, connection: connection, externalID: externalID, content: nil)
    }
}
