import SwitchboardCore

/// Milliseconds since the Unix epoch: the store's one time unit.
public typealias Millis = Int64

/// A business event or master-data change entering the event log.
public struct NewEvent: Sendable {
    public var tenant: String
    /// The connection it came from.
    public var source: String
    /// A business event type (`opportunity.won`) or `record.<Entity>` for a master-data change.
    public var type: String
    public var entity: String
    public var externalID: String
    /// Unique per distinct change: a redelivery with the same key is dropped.
    public var dedupeKey: String
    public var payload: [UInt8]
    public var amount: String?
    public var currency: String?
    /// The workflows this event starts (one work item each).
    public var workflows: [String]
    /// Runtime metadata (JSON), e.g. the fields a master-data change touched.
    public var meta: String?

    public init(tenant: String, source: String, type: String, entity: String, externalID: String, dedupeKey: String,
                payload: [UInt8], amount: String? = nil, currency: String? = nil, workflows: [String], meta: String? = nil) {
        self.meta = meta
        self.tenant = tenant
        self.source = source
        self.type = type
        self.entity = entity
        self.externalID = externalID
        self.dedupeKey = dedupeKey
        self.payload = payload
        self.amount = amount
        self.currency = currency
        self.workflows = workflows
    }
}

/// A record that failed validation at a boundary: kept, with why, in the exception queue.
public struct RejectedRecord: Sendable {
    public var tenant: String
    public var source: String
    public var type: String
    public var entity: String
    public var externalID: String
    public var payload: [UInt8]
    public var reason: String
    public var diagnostics: [Diagnostic]
    public var amount: String?
    public var currency: String?

    public init(tenant: String, source: String, type: String, entity: String, externalID: String, payload: [UInt8],
                reason: String, diagnostics: [Diagnostic], amount: String? = nil, currency: String? = nil) {
        self.tenant = tenant
        self.source = source
        self.type = type
        self.entity = entity
        self.externalID = externalID
        self.payload = payload
        self.reason = reason
        self.diagnostics = diagnostics
        self.amount = amount
        self.currency = currency
    }
}

/// One atomic ingest: events, rejects and the cursor that covers them commit
/// together, so a cursor never moves past a record that is not durable.
public struct IngestBatch: Sendable {
    public var events: [NewEvent] = []
    public var rejected: [RejectedRecord] = []
    /// (tenant, connection, stream, state) to commit with the batch.
    public var cursor: (tenant: String, connection: String, stream: String, state: [UInt8])?
    /// Xref entries of records received (their content as now known), for echo suppression.
    public var seen: [XrefKey] = []

    public init(events: [NewEvent] = [], rejected: [RejectedRecord] = [],
                cursor: (tenant: String, connection: String, stream: String, state: [UInt8])? = nil) {
        self.events = events
        self.rejected = rejected
        self.cursor = cursor
    }
}

public struct IngestOutcome: Sendable, Equatable {
    public var inserted: Int
    public var duplicates: Int
    public var rejected: Int

    public init(inserted: Int = 0, duplicates: Int = 0, rejected: Int = 0) {
        self.inserted = inserted
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// A work item claimed by a worker.
public struct ClaimedWork: Sendable {
    public var id: Int64
    public var eventID: Int64
    public var tenant: String
    public var workflow: String
    public var attempts: Int
    public var firstTriedAt: Millis?
    public var createdAt: Millis
    public var event: StoredEvent

    public init(id: Int64, eventID: Int64, tenant: String, workflow: String, attempts: Int, firstTriedAt: Millis? = nil, createdAt: Millis, event: StoredEvent) {
        self.id = id
        self.eventID = eventID
        self.tenant = tenant
        self.workflow = workflow
        self.attempts = attempts
        self.firstTriedAt = firstTriedAt
        self.createdAt = createdAt
        self.event = event
    }
}

public struct StoredEvent: Sendable {
    public var id: Int64
    public var tenant: String
    public var source: String
    public var type: String
    public var entity: String
    public var externalID: String
    public var dedupeKey: String
    public var payload: [UInt8]
    public var amount: String?
    public var currency: String?
    public var meta: String?
    public var receivedAt: Millis

    public init(id: Int64, tenant: String, source: String, type: String, entity: String, externalID: String, dedupeKey: String, payload: [UInt8], amount: String? = nil, currency: String? = nil, meta: String? = nil, receivedAt: Millis) {
        self.id = id
        self.tenant = tenant
        self.source = source
        self.type = type
        self.entity = entity
        self.externalID = externalID
        self.dedupeKey = dedupeKey
        self.payload = payload
        self.amount = amount
        self.currency = currency
        self.meta = meta
        self.receivedAt = receivedAt
    }
}

/// An idempotent write that reached a target: never redone for the same key.
public struct LedgerEntry: Sendable {
    public var key: String
    public var tenant: String
    public var connection: String
    public var entity: String
    public var externalID: String
    /// The event whose write this is. A record's row (one per record and write step) keeps the newest
    /// event written: a row that exists already takes a newer one and keeps its external id.
    public var eventID: Int64?
    /// A hint about cost, not the result: the writer found no row under this key. A store may insert it
    /// without conflict handling, but must end as an upsert would if the row exists after all (docs/STORE.md).
    public var expectedNew: Bool

    public init(key: String, tenant: String, connection: String, entity: String, externalID: String, eventID: Int64? = nil,
                expectedNew: Bool = false) {
        self.key = key
        self.tenant = tenant
        self.connection = connection
        self.entity = entity
        self.externalID = externalID
        self.eventID = eventID
        self.expectedNew = expectedNew
    }
}

/// What the ledger holds under one key: the id written at the target and the newest event written
/// (nil for rows written before schema v5 on SQLite, v3 on PostgreSQL).
public struct LedgerWrite: Sendable, Equatable {
    public var externalID: String
    public var eventID: Int64?

    public init(externalID: String, eventID: Int64? = nil) {
        self.externalID = externalID
        self.eventID = eventID
    }
}

/// One id of a canonical record at one connection, with the content last
/// written there or seen from there (echo suppression compares against it).
public struct XrefKey: Sendable, Equatable {
    public var tenant: String
    public var entity: String
    public var canonicalID: String
    public var connection: String
    public var externalID: String
    /// Canonical JSON of the fields last known at this connection; nil keeps what is stored.
    public var content: [UInt8]?
    /// When written: the same hint as `LedgerEntry.expectedNew` (no link was known under this key).
    /// Reads return false.
    public var expectedNew: Bool

    public init(tenant: String, entity: String, canonicalID: String, connection: String, externalID: String, content: [UInt8]?,
                expectedNew: Bool = false) {
        self.tenant = tenant
        self.entity = entity
        self.canonicalID = canonicalID
        self.connection = connection
        self.externalID = externalID
        self.content = content
        self.expectedNew = expectedNew
    }
}

/// How long one step of a transaction took, and what it did.
public struct StepTiming: Sendable, Codable, Equatable {
    public var step: String
    public var millis: Double
    public var status: String
    public var detail: String

    public init(step: String, millis: Double, status: String, detail: String = "") {
        self.step = step
        self.millis = millis
        self.status = status
        self.detail = detail
    }
}

/// What became of a claimed work item.
public struct WorkOutcome: Sendable {
    public enum Disposition: Sendable {
        case done
        /// Try again at `at` (ms); `status` and diagnostics of the failed attempt.
        case retry(at: Millis, status: OperationStatus)
        /// To the exception queue.
        case exception(reason: String)
        /// AUTH: parked until the connection is resumed.
        case parked
    }

    public var workID: Int64
    public var disposition: Disposition
    public var connection: String?
    public var diagnostics: [Diagnostic]
    public var steps: [StepTiming]
    public var ledger: [LedgerEntry]
    public var xref: [XrefKey]
    /// New events the workflow emitted (committed with this outcome).
    public var emitted: [NewEvent]

    public init(workID: Int64, disposition: Disposition, connection: String? = nil, diagnostics: [Diagnostic] = [],
                steps: [StepTiming] = [], ledger: [LedgerEntry] = [], xref: [XrefKey] = [], emitted: [NewEvent] = []) {
        self.workID = workID
        self.disposition = disposition
        self.connection = connection
        self.diagnostics = diagnostics
        self.steps = steps
        self.ledger = ledger
        self.xref = xref
        self.emitted = emitted
    }
}

/// An item of the exception queue.
public struct ExceptionItem: Sendable, Codable, Equatable {
    public var id: Int64
    public var tenant: String
    public var workID: Int64?
    public var eventID: Int64?
    public var eventType: String
    public var externalID: String
    public var workflow: String?
    public var connection: String?
    public var reason: String
    public var diagnostics: [Diagnostic]
    public var attempts: Int
    public var assignee: String?
    public var amount: String?
    public var currency: String?
    public var firstTriedAt: Millis?
    public var lastTriedAt: Millis?
    public var status: String
    public var createdAt: Millis
    public var resolvedBy: String?
    public var resolution: String?

    public init(id: Int64, tenant: String, workID: Int64? = nil, eventID: Int64? = nil, eventType: String, externalID: String, workflow: String? = nil, connection: String? = nil, reason: String, diagnostics: [Diagnostic], attempts: Int, assignee: String? = nil, amount: String? = nil, currency: String? = nil, firstTriedAt: Millis? = nil, lastTriedAt: Millis? = nil, status: String, createdAt: Millis, resolvedBy: String? = nil, resolution: String? = nil) {
        self.id = id
        self.tenant = tenant
        self.workID = workID
        self.eventID = eventID
        self.eventType = eventType
        self.externalID = externalID
        self.workflow = workflow
        self.connection = connection
        self.reason = reason
        self.diagnostics = diagnostics
        self.attempts = attempts
        self.assignee = assignee
        self.amount = amount
        self.currency = currency
        self.firstTriedAt = firstTriedAt
        self.lastTriedAt = lastTriedAt
        self.status = status
        self.createdAt = createdAt
        self.resolvedBy = resolvedBy
        self.resolution = resolution
    }
}

extension ExceptionItem {
    /// The item after an operator resolved it (retried or discarded), as both backends report it.
    public func resolved(_ status: String, by actor: String, reason: String) -> ExceptionItem {
        var item = self
        item.status = status
        item.resolvedBy = actor
        item.resolution = reason
        return item
    }
}

/// A work item that finished `done`: what it may supersede in the exception queue.
public struct DoneWork: Sendable {
    public var tenant: String
    public var workflow: String
    public var eventID: Int64
    public var workID: Int64

    public init(tenant: String, workflow: String, eventID: Int64, workID: Int64) {
        self.tenant = tenant
        self.workflow = workflow
        self.eventID = eventID
        self.workID = workID
    }

    /// The audit detail and resolution of an item this work superseded.
    public var resolution: String {
        "superseded: a newer event of the same record (event \(eventID), work \(workID)) went through \(workflow)"
    }
}

public struct ExceptionFilter: Sendable {
    public var tenant: String?
    public var reason: String?
    public var status: String? = "open"
    public var workflow: String?
    public var connection: String?
    public var assignee: String?
    public var limit: Int = 1000

    public init(tenant: String? = nil, reason: String? = nil, status: String? = "open", workflow: String? = nil,
                connection: String? = nil, assignee: String? = nil, limit: Int = 1000) {
        self.tenant = tenant
        self.reason = reason
        self.status = status
        self.workflow = workflow
        self.connection = connection
        self.assignee = assignee
        self.limit = limit
    }
}

/// One line of the audit trail.
public struct AuditEntry: Sendable, Codable, Equatable {
    public var seq: Int64
    public var at: Millis
    public var actor: String
    public var action: String
    public var target: String
    public var detail: String

    public init(seq: Int64, at: Millis, actor: String, action: String, target: String, detail: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
    }
}

public struct AuditVerification: Sendable, Equatable {
    public var rows: Int
    public var problems: [String]
    public var ok: Bool { problems.isEmpty }
}

/// How long a tenant's history is kept (docs/STORE.md "Retention"); nil keeps it forever.
public struct RetentionPolicy: Sendable, Equatable {
    /// Finished transactions (done work items) and resolved exception items.
    public var doneTransactions: Millis?
    /// Event payloads (and their metadata) of events whose work is finished; the event row stays for deduplication.
    public var eventPayloads: Millis?
    /// The per-step timings of finished transactions.
    public var stepTimings: Millis?
    /// Event rows themselves, with the dedupe keys that make a redelivery a no-op. At least `doneTransactions`.
    public var dedupeWindow: Millis?

    public init(doneTransactions: Millis? = nil, eventPayloads: Millis? = nil, stepTimings: Millis? = nil, dedupeWindow: Millis? = nil) {
        (self.doneTransactions, self.eventPayloads, self.stepTimings, self.dedupeWindow) =
            (doneTransactions, eventPayloads, stepTimings, dedupeWindow)
    }

    /// The defaults (docs/STORE.md): 90 days of transactions, 30 of payloads, 14 of step timings, 400 of dedupe keys.
    public static let standard = RetentionPolicy(doneTransactions: 90 * day, eventPayloads: 30 * day, stepTimings: 14 * day,
                                                 dedupeWindow: 400 * day)
    public static let forever = RetentionPolicy()
    public static let day: Millis = 86_400_000
}

/// What one pruning pass removed.
public struct PruneReport: Sendable, Equatable {
    public var doneTransactions = 0
    public var resolvedExceptions = 0
    public var eventPayloads = 0
    public var stepTimings = 0
    public var events = 0
    public var auditRows = 0
    public init() {}
    public var total: Int { doneTransactions + resolvedExceptions + eventPayloads + stepTimings + events + auditRows }
}

/// Counts for progress displays and summaries.
public struct RuntimeStats: Sendable, Equatable {
    public var events: Int
    public var pending: Int
    public var running: Int
    public var done: Int
    public var parked: Int
    public var openExceptions: Int
    /// reason -> (count, currency -> amount as decimal string)
    public var exceptionsByReason: [String: (count: Int, blocked: [String: String])]
    /// The latency (received -> done, ms, sorted) of the most recent completed transactions, at most
    /// `StoreShared.recentLatencies` of them: a bounded read, and the figure an operator watches is today's.
    public var latenciesMillis: [Int64]

    public static func == (a: RuntimeStats, b: RuntimeStats) -> Bool {
        a.events == b.events && a.pending == b.pending && a.done == b.done && a.openExceptions == b.openExceptions
    }
}
