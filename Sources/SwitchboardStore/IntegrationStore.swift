import SwitchboardCore

/// The durable store behind the runtime. docs/STORE.md is the contract;
/// SQLiteStore is the embedded default, and the PostgreSQL backend implements
/// the same protocol. Every method is atomic: it commits entirely or not at all.
public protocol IntegrationStore: AnyObject, Sendable {
    /// Appends events (dropping redeliveries by dedupe key), creates their work
    /// items, files rejected records as exceptions, and moves the cursor — in one transaction.
    func ingest(_ batch: IngestBatch, now: Millis) throws -> IngestOutcome
    /// The last committed cursor of a stream.
    func cursor(tenant: String, connection: String, stream: String) throws -> [UInt8]?

    /// Leases up to `limit` due work items (pending and due, or running with an expired lease).
    func claim(limit: Int, now: Millis, leaseMillis: Millis) throws -> [ClaimedWork]
    /// Records what became of claimed items, with their ledger, xref and emitted events, in one transaction.
    /// An embedded store ends the leases even when it does not commit, so those items are due again at once;
    /// a shared store leaves them to lease expiry (the lost commit may be the database's failure, not this host's).
    func finish(_ outcomes: [WorkOutcome], now: Millis) throws
    /// True while any work is not finished (pending, including future retries, or running).
    func hasUnfinishedWork() throws -> Bool
    /// At start of the only host of an embedded store: items a dead process had leased go back to the queue at once
    /// (instead of after their lease). Returns how many. A shared store leaves this to lease expiry.
    func releaseLeasesOfDeadHost(now: Millis) throws -> Int

    /// What was already written under these ledger keys.
    func ledger(keys: [String]) throws -> [String: LedgerWrite]
    /// The xref entry of a record at a connection: stored, or the origin side its canonical id names (`DerivedOrigin`).
    func xref(tenant: String, entity: String, connection: String, externalID: String) throws -> XrefKey?
    /// Every connection's id for one canonical record, the origin side included.
    func xref(tenant: String, entity: String, canonicalID: String) throws -> [XrefKey]

    /// Pauses or resumes a connection; resuming returns its parked items to the queue.
    func setConnectionPaused(tenant: String, connection: String, paused: Bool, reason: String, now: Millis) throws -> Int
    func pausedConnections() throws -> [(tenant: String, connection: String, reason: String)]

    func exceptions(_ filter: ExceptionFilter) throws -> [ExceptionItem]
    func exception(id: Int64) throws -> ExceptionItem?
    /// How many exception items of a tenant are open (the queue depth).
    func openExceptionCount(tenant: String) throws -> Int
    /// Replays exception items: their work goes back to the queue, rejected records are re-ingested by the caller.
    func retryExceptions(ids: [Int64], actor: String, reason: String, now: Millis) throws -> [ExceptionItem]
    func discardException(id: Int64, actor: String, reason: String, now: Millis) throws -> ExceptionItem
    /// Resolves an open item as `status` without requeueing its work (e.g. `superseded` when a re-read of its source
    /// replaced its event), audited as `action`.
    func closeException(id: Int64, status: String, action: String, actor: String, reason: String, now: Millis) throws -> ExceptionItem
    /// Resolves as `superseded` (actor `switchboard`, audited) every open item of the same workflow whose event is an
    /// older event of the same source record and type as a work item that is now done: the newer version went through.
    /// Returns the ids resolved.
    func supersedeExceptions(by done: [DoneWork], now: Millis) throws -> [Int64]
    func assignException(id: Int64, to assignee: String, actor: String, now: Millis) throws -> ExceptionItem
    /// The stored payload of an event (for replaying a rejected record).
    func event(id: Int64) throws -> StoredEvent?

    /// Appends to the hash-chained audit trail.
    func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws
    func auditEntries(limit: Int) throws -> [AuditEntry]
    /// Walks the chain: an edited, inserted or deleted row is reported.
    func verifyAudit() throws -> AuditVerification

    /// A connection's private key/value state (plugins' state_get/state_put).
    func stateValue(tenant: String, connection: String, key: String) throws -> [UInt8]?
    func setStateValue(_ value: [UInt8], tenant: String, connection: String, key: String, now: Millis) throws

    func stats(tenant: String?) throws -> RuntimeStats

    /// Removes at most `limit` rows of each kind of one tenant's history older than its `policy` allows
    /// (docs/STORE.md "Retention"), never what unfinished work, deduplication of live events, idempotency
    /// (the ledger) or xref need. Callers repeat while it removes anything.
    func prune(tenant: String, policy: RetentionPolicy, now: Millis, limit: Int) throws -> PruneReport
    /// Removes at most `limit` audit rows older than `before`, first recording a checkpoint (the last removed
    /// row's seq and hash) that verification continues the chain from, and an `audit.prune` row naming it.
    func pruneAudit(before: Millis, actor: String, now: Millis, limit: Int) throws -> Int
}

/// What several hosts sharing one store need to coordinate (docs/STORE-POSTGRES.md).
/// The embedded store has exactly one host, so the defaults are all it needs.
public protocol HostCoordination: AnyObject, Sendable {
    /// This host's name in leases (`lease_owner`).
    var hostID: String { get }
    /// Extends the leases of the items this host is still working on (the heartbeat); returns how many.
    /// Only those: an item whose claim or outcome was lost on the way (the database restarted mid-commit)
    /// must be let go, so its lease runs out and a claim takes it over; renewing every lease this host
    /// owns would keep such an item leased, and unworked, for as long as the host lives.
    func renewLeases(ids: [Int64], now: Millis, leaseMillis: Millis) throws -> Int
    /// True while this host is the one that runs polling and cursor-driven syncs.
    /// Called often (before every poll): each call is the scheduler's sign of life, and a host that lost
    /// the election learns it here. A host that is not the scheduler takes the role from one that has
    /// shown no sign of life for `takeOverAfterMillis` (alive but stuck); nil never does.
    func holdsSchedulerLock(takeOverAfterMillis: Millis?) -> Bool
}

extension IntegrationStore {
    /// The store's coordination, or the single-host default.
    public var coordination: any HostCoordination { (self as? any HostCoordination) ?? SingleHost.shared }
}

/// The only host of an embedded store: always the scheduler, leases never contested.
public final class SingleHost: HostCoordination {
    public static let shared = SingleHost()
    public var hostID: String { "local" }
    public func renewLeases(ids: [Int64], now: Millis, leaseMillis: Millis) throws -> Int { 0 }
    public func holdsSchedulerLock(takeOverAfterMillis: Millis?) -> Bool { true }
}

/// A store that can hold a claimed batch instead of leasing it (docs/STORE.md, guarantee 2, "Held claims"):
/// nothing is written to claim, and the batch's outcomes commit where its hold ends.
public protocol HeldClaims: AnyObject, Sendable {
    /// Picks items as `claim` does and holds them; nil when the store has nothing to hold them with (the caller
    /// then uses `claim`). An empty batch holds nothing.
    func claimHeld(limit: Int, now: Millis, leaseMillis: Millis) throws -> (any HeldBatch)?
}

/// Items held for one caller until `finish` or `release`, or until the holder stops (died, silent for a lease,
/// lost the database). Not for concurrent use, except `keepAlive`, which may run while another call does.
public protocol HeldBatch: AnyObject, Sendable {
    var items: [ClaimedWork] { get }
    /// Records the outcomes with the effects of `IntegrationStore.finish` and ends the hold in the same commit;
    /// items without an outcome are due again. Throws, recording nothing, when the hold was already lost.
    func finish(_ outcomes: [WorkOutcome], now: Millis) throws
    /// Ends the hold recording nothing: every item is due again at once.
    func release()
    /// The heartbeat: keeps the hold from ending for another `leaseMillis`. False once the hold is lost.
    @discardableResult func keepAlive() -> Bool
}

/// Token buckets kept in the store, so a connection's rate limit holds across every host that calls it.
public protocol SharedRateLimits: AnyObject, Sendable {
    /// Takes one token from the bucket `key` (created full), refilled at `ratePerSecond` up to `burst`.
    /// Returns the seconds to wait before using it (0: at once); the token is reserved either way.
    func reserveToken(key: String, ratePerSecond: Double, burst: Double, now: Millis) throws -> Double
    /// Gives back a reserved token the caller decided not to wait for.
    func returnToken(key: String) throws
}

/// Everything a store backend offers: the runtime's queue, the admin API's views, the vault's rows, tokens.
public typealias FullStore = IntegrationStore & TransactionStore & TokenStore & VaultStore

/// A store whose statements can hang on the network (a server that ended a session the client has not noticed,
/// a lock wait behind a host that was stopped): a stop that outlives its grace interrupts them, so the threads
/// waiting on them fail at once instead of holding the host past its stop timeout. Uncommitted work runs again.
public protocol InterruptibleStore: AnyObject, Sendable {
    /// Closes every connection with a statement in flight (and the idle ones); later calls open new ones.
    func interruptStatements()
}
