import SwitchboardCore

/// One transaction (a work item: one event through one workflow) as operators see it.
public struct TransactionSummary: Sendable, Equatable {
    public var id: Int64
    public var tenant: String
    public var workflow: String
    public var eventType: String
    public var entity: String
    public var externalID: String
    /// pending, running, done, parked, exception
    public var status: String
    public var attempts: Int
    public var receivedAt: Millis
    public var finishedAt: Millis?
    public var connection: String?
    public var lastStatus: String?
    public var lastError: String?
    public var amount: String?
    public var currency: String?
    public var steps: [StepTiming]

    /// Received -> finished, ms.
    public var latencyMillis: Int64? { finishedAt.map { $0 - receivedAt } }

    public init(id: Int64, tenant: String, workflow: String, eventType: String, entity: String, externalID: String, status: String, attempts: Int, receivedAt: Millis, finishedAt: Millis? = nil, connection: String? = nil, lastStatus: String? = nil, lastError: String? = nil, amount: String? = nil, currency: String? = nil, steps: [StepTiming]) {
        self.id = id
        self.tenant = tenant
        self.workflow = workflow
        self.eventType = eventType
        self.entity = entity
        self.externalID = externalID
        self.status = status
        self.attempts = attempts
        self.receivedAt = receivedAt
        self.finishedAt = finishedAt
        self.connection = connection
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.amount = amount
        self.currency = currency
        self.steps = steps
    }
}

public struct TransactionFilter: Sendable {
    public var tenant: String
    public var status: String?
    public var entity: String?
    public var workflow: String?
    /// Received at or after / before (ms since the epoch).
    public var since: Millis?
    public var until: Millis?
    public var limit = 100

    public init(tenant: String) { self.tenant = tenant }
}

/// Transaction search and detail for the admin API and the dashboard.
public protocol TransactionStore: Sendable {
    func transactions(_ filter: TransactionFilter) throws -> [TransactionSummary]
    func transaction(id: Int64) throws -> TransactionSummary?
}

extension SQLiteStore: TransactionStore {
    private static let columns = """
        w.id, w.tenant, w.workflow, e.type, e.entity, e.external_id, w.status, w.attempts, e.received_at, w.finished_at,
        w.connection, w.last_status, w.last_error, e.amount, e.currency, w.steps
        """

    public func transactions(_ f: TransactionFilter) throws -> [TransactionSummary] {
        // Leased items are `pending` in the file: "running" is searched among those, and "pending" leaves them out.
        let running = leases.running(tenant: f.tenant)
        var f = f
        let wanted = f.status
        if wanted == "running" { f.status = "pending" }
        let found = try read { db in
            try db.query("""
                SELECT \(Self.columns) FROM work w JOIN events e ON e.id = w.event_id
                WHERE w.tenant = ? AND (? IS NULL OR w.status = ?) AND (? IS NULL OR e.entity = ?) AND (? IS NULL OR w.workflow = ?)
                  AND (? IS NULL OR e.received_at >= ?) AND (? IS NULL OR e.received_at < ?)
                ORDER BY w.id DESC LIMIT ?
                """, [.text(f.tenant), .optional(f.status), .optional(f.status), .optional(f.entity), .optional(f.entity),
                      .optional(f.workflow), .optional(f.workflow), Self.optionalInt(f.since), Self.optionalInt(f.since),
                      Self.optionalInt(f.until), Self.optionalInt(f.until), .int(Int64(f.limit))]) { Self.summary($0) }
        }
        return found.map { withLeases($0, running: running) }.filter { wanted == nil || $0.status == wanted }
    }

    public func transaction(id: Int64) throws -> TransactionSummary? {
        let found = try read { db in
            try db.query("SELECT \(Self.columns) FROM work w JOIN events e ON e.id = w.event_id WHERE w.id = ?", [.int(id)]) { Self.summary($0) }.first
        }
        return found.map { withLeases($0, running: leases.running(tenant: $0.tenant)) }
    }

    private func withLeases(_ t: TransactionSummary, running: Set<Int64>) -> TransactionSummary {
        guard t.status == "pending", running.contains(t.id) else { return t }
        var leased = t
        leased.status = "running"
        return leased
    }

    private static func optionalInt(_ v: Millis?) -> SQLValue { v.map { .int($0) } ?? .null }

    private static func summary(_ r: Statement) -> TransactionSummary {
        func text(_ i: Int32) -> String? { r.isNull(i) ? nil : r.text(i) }
        return TransactionSummary(id: r.int(0), tenant: r.text(1), workflow: r.text(2), eventType: r.text(3), entity: r.text(4),
                                  externalID: r.text(5), status: r.text(6), attempts: Int(r.int(7)), receivedAt: r.int(8),
                                  finishedAt: r.isNull(9) ? nil : r.int(9), connection: text(10), lastStatus: text(11),
                                  lastError: text(12).map(Redactor.redact), amount: text(13), currency: text(14),
                                  steps: text(15).map(StepCoding.decode) ?? [])
    }
}
