import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore
import SwitchboardVault
import Synchronization

/// The running integration engine of one configuration: a poller thread that
/// reads connections into the event log and a worker thread that runs
/// workflows from the durable queue. Everything it has acknowledged is in the
/// store, so stopping at any point (even kill -9) loses nothing.
public final class Runtime: @unchecked Sendable {
    public let store: any IntegrationStore
    public let logger: Logger
    /// The generation running now; a reload swaps it (Generation, docs/PACKAGES.md "Hot reload").
    let generation: Mutex<Generation>
    /// How a reload reads the configuration again; nil: this runtime does not reload (built from a parsed config).
    let reloadConfig: (@Sendable () throws(ConfigError) -> SwitchboardConfig)?
    /// Serialises reloads (the watcher, an operator's request).
    let reloading = Mutex<Void>(())

    /// The current generation. Hold it (`holding`) for anything that calls its plugins.
    public var current: Generation { generation.withLock { $0 } }
    /// The configuration running now.
    public var config: SwitchboardConfig { current.config }
    /// The plugin instances running now (look-ups; calls go through `holding`).
    public var registry: ConnectionRegistry { current.registry }
    var router: WorkflowRouter { current.router }
    let recentWrites = RecentWrites()
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    private let committer = DispatchQueue(label: "switchboard.committer")
    private let claimer = DispatchQueue(label: "switchboard.claimer")
    private let commitSlots = DispatchSemaphore(value: 2)
    /// Items leased and not yet committed: the heartbeat renews these leases, and only these.
    private let inFlight = Mutex<Set<Int64>>([])
    /// Batches the store holds for this host (held claims) until they are finished: the heartbeat keeps these alive.
    private let heldBatches = Mutex<[ObjectIdentifier: any HeldBatch]>([:])
    /// Counters for progress displays.
    public let counters = Counters()
    /// Whether the store's writes fail now (a full disk): logged once per outage.
    public let storeOutage: StoreOutage

    public final class Counters: Sendable {
        let polledRecords = Atomic<Int>(0)
        let echoes = Atomic<Int>(0)
        let processed = Atomic<Int>(0)
        let lastPollFoundWork = Atomic<Bool>(true)
        /// Monotonic ns: when the last complete poll round started, and when work was last committed.
        let lastPollRoundStarted = Atomic<Int64>(0)
        let lastWorkCommitted = Atomic<Int64>(0)
        /// Whether any exception item may be open (refreshed about once a second, set by every batch that files one):
        /// while none is, a finished batch skips looking for items it supersedes.
        let mayHaveOpenExceptions = Atomic<Bool>(true)
        public var records: Int { polledRecords.load(ordering: .relaxed) }
        public var echoesSuppressed: Int { echoes.load(ordering: .relaxed) }
        public var itemsProcessed: Int { processed.load(ordering: .relaxed) }
    }

    /// The vault, when a master key is configured.
    public let vault: Vault?

    /// `stores` opens `config.store` unless `store` is given: the drivers the composition root knows. `reload`, when
    /// given, reads the configuration again for a hot reload (the CLI passes the loader of its file).
    public init(config: SwitchboardConfig, store: (any IntegrationStore)? = nil, stores: StoreDrivers = .embedded, logger: Logger,
                reload: (@Sendable () throws(ConfigError) -> SwitchboardConfig)? = nil) throws {
        self.logger = logger
        storeOutage = StoreOutage(logger: logger)
        let opened = try store ?? stores.open(url: config.store, forHost: true)
        self.store = opened
        vault = try Self.openVault(store: opened)
        let registry = try ConnectionRegistry(config: config, store: opened, vault: vault, logger: logger)
        generation = Mutex(Generation(number: 1, config: config, registry: registry, store: opened, recentWrites: recentWrites))
        reloadConfig = reload
    }

    /// Runs `body` with the current generation held: its plugin instances stay open until `body` returns, even if a
    /// reload retires it meanwhile.
    public func holding<T>(_ body: (Generation) throws -> T) rethrows -> T {
        let held = generation.withLock { g in
            g.hold()
            return g
        }
        defer { held.release() }
        return try body(held)
    }

    /// The vault of a store, if the environment names a master key (a wrong key is an error here, not garbage later).
    public static func openVault(store: any IntegrationStore) throws -> Vault? {
        guard let vaultStore = store as? any VaultStore else { return nil }
        let key: MasterKey
        do {
            key = try MasterKey.fromEnvironment()
        } catch VaultError.noMasterKey {
            return nil
        }
        // A key file is re-read after a rotation made by `switchboard vault rotate` while this host runs.
        let file = ProcessInfo.processInfo.environment["SWITCHBOARD_MASTER_KEY_FILE"]
        var reload: (@Sendable () throws -> MasterKey)?
        if let file { reload = { try MasterKey.load(file: file) } }
        let vault = Vault(store: vaultStore, masterKey: key, reload: reload)
        try vault.verify()
        return vault
    }

    /// Starts the poller and the worker.
    public func start() {
        // One host per embedded store: whatever is still leased belongs to a process that died (kill -9, power loss).
        if let released = try? store.releaseLeasesOfDeadHost(now: Clock.nowMillis()), released > 0 {
            logger.notice("requeued work leased by a previous run that did not stop cleanly", metadata: ["items": "\(released)"])
        }
        TrustedCallWatchdog.start(logger: logger, graceMillis: config.sandbox.graceMillis)
        spawn("switchboard.poller") { [self] in pollLoop() }
        spawn("switchboard.worker") { [self] in workLoop() }
        spawn("switchboard.retention") { [self] in retentionLoop() }
        if reloadConfig != nil { spawn("switchboard.reload") { [self] in reloadLoop() } }
        if !(store.coordination is SingleHost) { spawn("switchboard.heartbeat") { [self] in heartbeatLoop() } }
    }

    /// A shared store: renews this host's leases every third of a lease, so only a host that stopped
    /// (died, hung, lost the database) lets its items expire to the others.
    private func heartbeatLoop() {
        let coordination = store.coordination
        while !isStopping {
            sleepUnlessStopping(nanos: max(config.worker.leaseMillis / 3, 100) * 1_000_000)
            for batch in heldBatches.withLock({ Array($0.values) }) where !batch.keepAlive() {
                logger.warning("lost the hold on a claimed batch; its items go to other hosts", metadata: ["items": "\(batch.items.count)"])
            }
            do {
                let ids = inFlight.withLock { Array($0) }
                _ = try coordination.renewLeases(ids: ids, now: Clock.nowMillis(), leaseMillis: config.worker.leaseMillis)
            } catch {
                logger.error("cannot renew this host's leases", metadata: ["host": "\(coordination.hostID)", "error": "\(error)"])
            }
        }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        finished.enter()
        let thread = Thread { [finished] in
            ThreadName.setCurrent(name)
            body()
            finished.leave()
        }
        thread.name = name
        thread.start()
    }

    /// Stops gracefully: in-flight reads are cancelled at their last checkpoint,
    /// the worker commits the batch it holds, then every plugin instance closes. With a timeout,
    /// returns false when that did not happen in time (a trusted plugin's call that never returns:
    /// nothing can stop it in-process); the instances are then left open.
    @discardableResult
    public func stop(timeoutMillis: Int64? = nil) -> Bool {
        guard !stopping.exchange(true, ordering: .relaxed) else { return true }
        // Serialised with a reload: none starts now, and one under way has swapped before the instances are cancelled.
        reloading.withLock { _ in }
        for connection in registry.all { connection.instance.cancel() }
        if let timeoutMillis {
            // A store statement may hang past the grace (a session the server ended while this host was stopped,
            // found by MultiHostTests under load): interrupt the store's statements, then wait out the rest.
            let grace = max(timeoutMillis / 2, timeoutMillis - 3_000)
            if finished.wait(timeout: .now() + .milliseconds(Int(clamping: grace))) != .success {
                if let interruptible = store as? any InterruptibleStore {
                    logger.warning("stop is taking long: interrupting the store's statements in flight (uncommitted work runs again)",
                                   metadata: ["waited_ms": .string("\(grace)")])
                    interruptible.interruptStatements()
                }
                guard finished.wait(timeout: .now() + .milliseconds(Int(clamping: timeoutMillis - grace))) == .success else { return false }
            }
        } else {
            finished.wait()
        }
        current.retire()
        return true
    }

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Items claimed by this host whose outcome is not committed yet (after `stop()`: those it left behind).
    public var uncommittedItems: Int {
        inFlight.withLock { $0.count } + heldBatches.withLock { $0.values.reduce(0) { $0 + $1.items.count } }
    }

    /// True when nothing is left to do: a poll round that started after the last
    /// committed work found nothing new (writes can surface as reads), and no work is pending or running.
    /// Polls of one stream that failed in a row before `--exit-when-idle` stops waiting for it to
    /// recover and counts it as failing (a transient 503 is retried; a source that is down ends the run).
    public static let failedPollsBeforeGivingUp = 3

    /// Each stream's consecutive failed polls and the last one's reason ("tenant/connection/stream").
    let pollFailures = Mutex<[String: (count: Int, reason: String)]>([:])

    /// Why a run that is idle did not read everything: connections whose plugin did not start, that are
    /// paused, or whose last polls failed (`switchboard run --exit-when-idle` exits non-zero and prints these).
    public func unsettledConnections() -> [String] {
        var out: [String] = []
        let paused = Dictionary(((try? store.pausedConnections()) ?? []).map { ("\($0.tenant)/\($0.connection)", $0.reason) }) { a, _ in a }
        let failures = pollFailures.withLock { $0 }
        for connection in registry.all {
            let name = "\(connection.tenant)/\(connection.id)"
            if let failure = connection.startFailure {
                out.append("\(name): its plugin did not start: \(failure)")
            } else if let reason = paused[name] {
                out.append("\(name): paused (\(reason)); its changes are not read")
            } else {
                for stream in connection.config.poll?.streams ?? [] {
                    if let f = failures["\(name)/\(stream)"], f.count > 0 {
                        out.append("\(name)/\(stream): its last \(f.count == 1 ? "poll" : "\(f.count) polls") failed (\(f.reason)); changes may be unread")
                    }
                }
            }
        }
        return out
    }

    public func isIdle() -> Bool {
        counters.lastPollRoundStarted.load(ordering: .acquiring) > counters.lastWorkCommitted.load(ordering: .acquiring)
            && !counters.lastPollFoundWork.load(ordering: .acquiring) && !((try? store.hasUnfinishedWork()) ?? true)
    }

    // MARK: polling

    /// One finished poll of one stream, as its lane reports it.
    struct PollDone: Sendable {
        var tenant: String
        var connection: String
        var stream: String
        var started: Int64
        var everyMillis: Int64
        var result: Poller.Result
    }

    /// Schedules polls: each connection's due streams run on that connection's lane (`PollLanes`), so a
    /// read that hangs delays only its own connection; this thread takes their results as they come.
    private func pollLoop() {
        // The poller routes with its generation's router: made again when a reload swaps generations.
        var polling = current
        var poller = Poller(store: store, ingestor: Ingestor(store: store, router: polling.router, recentWrites: recentWrites), logger: logger)
        let lanes = PollLanes<[PollDone]>(name: "switchboard.poll-lane")
        defer { lanes.stop() }
        var due: [String: Int64] = [:]
        // Per stream: when its last finished poll started, and whether it found anything.
        var lastPolled: [String: (at: Int64, found: Bool)] = [:]
        let coordination = store.coordination
        var scheduling = false
        let stall = config.worker.effectiveSchedulerStallMillis
        let deadlineMillis = config.worker.deadlineMillis
        // Which connections are paused, read at most every 50 ms: this loop turns each time a lane reports,
        // and one store query per turn would be work on the poll path for nothing.
        var paused = Set<String>()
        var pausedReadAt: Int64?
        // Exported from the start: a host that never wins the lock shows 0, not nothing.
        RuntimeMetrics.scheduler(false)
        while !isStopping {
            // Polling runs on one host at a time: the one holding the scheduler lock (always this one on an embedded store).
            let holds = coordination.holdsSchedulerLock(takeOverAfterMillis: stall)
            if holds != scheduling {
                scheduling = holds
                logger.notice(holds ? "this host is now the scheduler: polling starts" : "this host is no longer the scheduler: polling stops",
                              metadata: ["host": "\(coordination.hostID)"])
                RuntimeMetrics.scheduler(holds)
            }
            guard holds else {
                sleepUnlessStopping(nanos: 500_000_000)
                continue
            }
            var nextWake = Clock.monotonicNanoseconds() + 200_000_000
            if pausedReadAt.map({ Clock.monotonicNanoseconds() - $0 >= 50_000_000 }) ?? true {
                paused = Set(((try? store.pausedConnections()) ?? []).map { "\($0.tenant)/\($0.connection)" })
                pausedReadAt = Clock.monotonicNanoseconds()
            }
            var expected: [String] = []
            let generation = current
            if generation !== polling {
                polling = generation
                poller = Poller(store: store, ingestor: Ingestor(store: store, router: generation.router, recentWrites: recentWrites), logger: logger)
            }
            round: for connection in generation.registry.all {
                // A connection whose plugin failed to start has nothing to poll (its failure was logged at start).
                guard connection.startFailure == nil, let poll = connection.config.poll,
                      !paused.contains("\(connection.tenant)/\(connection.id)") else { continue }
                let lane = "\(connection.tenant)/\(connection.id)"
                expected += poll.streams.map { "\(lane)/\($0)" }
                if lanes.isBusy(lane) { continue }
                let now = Clock.monotonicNanoseconds()
                let streams = poll.streams.filter { stream in
                    guard let at = due["\(lane)/\(stream)"], at > now else { return true }
                    nextWake = min(nextWake, at)
                    return false
                }
                if streams.isEmpty { continue }
                if isStopping { return }
                // Before each poll: the scheduler's sign of life, and a host that lost the role stops mid-round.
                guard coordination.holdsSchedulerLock(takeOverAfterMillis: stall) else { break round }
                // The poll holds its generation: a reload meanwhile closes this connection's instance only after it.
                generation.hold()
                lanes.submit(lane) { [self, poller] in
                    defer { generation.release() }
                    return streams.map { stream in
                        let started = Clock.monotonicNanoseconds()
                        let result = isStopping ? Poller.Result() : poller.poll(connection, stream: stream, batch: poll.batch, deadlineMillis: deadlineMillis)
                        return PollDone(tenant: connection.tenant, connection: connection.id, stream: stream, started: started,
                                        everyMillis: poll.everyMillis, result: result)
                    }
                }
            }
            // Take what the lanes finished, waiting until the next stream is due or a lane reports.
            let wait = max(0, min(nextWake - Clock.monotonicNanoseconds(), 50_000_000))
            for (_, polls) in lanes.take(waitingUpTo: wait) {
                for done in polls {
                    let result = done.result
                    if let failure = result.storeFailure { storeOutage.failed(failure, while: "storing read records") }
                    else if result.outcome.inserted + result.outcome.rejected > 0 || result.cursorMoved { storeOutage.succeeded() }
                    counters.polledRecords.add(result.outcome.inserted + result.outcome.rejected, ordering: .relaxed)
                    RuntimeMetrics.eventsIn(done.tenant, done.connection, result.outcome.inserted)
                    RuntimeMetrics.rejected(done.tenant, done.connection, result.outcome.rejected)
                    counters.echoes.add(result.echoes, ordering: .relaxed)
                    if result.status == .auth {
                        pauseOnItsOwn(tenant: done.tenant, connection: done.connection,
                                      reason: "AUTH on read: \(result.diagnostics.first?.summary ?? "")")
                    }
                    let key = "\(done.tenant)/\(done.connection)/\(done.stream)"
                    let failed = result.status != .ok || result.storeFailure != nil
                    let streak = pollFailures.withLock { failures -> Int in
                        let count = failed ? (failures[key]?.count ?? 0) + 1 : 0
                        failures[key] = (count, result.diagnostics.first?.summary ?? (result.storeFailure.map { "\($0)" } ?? "\(result.status)"))
                        return count
                    }
                    // A failed poll read nothing it could vouch for: not idle until the stream reads cleanly, or has
                    // failed often enough that waiting longer would not end (the run then reports it as failing).
                    let found = result.more || result.outcome.inserted > 0 || result.outcome.rejected > 0 || result.cursorMoved
                        || (failed && streak < Self.failedPollsBeforeGivingUp)
                    lastPolled[key] = (done.started, found)
                    due[key] = result.more ? Clock.monotonicNanoseconds() : Clock.monotonicNanoseconds() + done.everyMillis * 1_000_000
                }
            }
            // Idle needs every stream's latest poll to be finished, empty and newer than the last committed work.
            let latest = expected.map { lastPolled[$0] }
            counters.lastPollFoundWork.store(latest.contains { $0 == nil || $0!.found }, ordering: .releasing)
            updateExceptionDepth()
            counters.lastPollRoundStarted.store(latest.compactMap { $0?.at }.min() ?? Clock.monotonicNanoseconds(), ordering: .releasing)
            RuntimeMetrics.pollRoundFinished()
        }
    }

    private var lastDepthUpdate: Int64 = 0

    /// Refreshes the exception-queue depth and sandbox health gauges at most once a second (poller thread only).
    private func updateExceptionDepth() {
        let now = Clock.monotonicNanoseconds()
        guard now - lastDepthUpdate > 1_000_000_000 else { return }
        lastDepthUpdate = now
        var anyOpen = false
        for tenant in config.tenants {
            if let depth = try? store.openExceptionCount(tenant: tenant.id) {
                RuntimeMetrics.exceptionDepth(tenant.id, depth)
                anyOpen = anyOpen || depth > 0
            } else {
                anyOpen = true
            }
        }
        counters.mayHaveOpenExceptions.store(anyOpen, ordering: .relaxed)
        for connection in registry.all {
            if let health = connection.sandboxHealth { RuntimeMetrics.sandbox(connection.tenant, connection.id, health) }
            RuntimeMetrics.degraded(connection.tenant, connection.id, connection.degraded)
        }
    }

    func sleepUnlessStopping(nanos: Int64) {
        var remaining = nanos
        while remaining > 0 && !isStopping {
            let slice = min(remaining, 20_000_000)
            usleep(UInt32(slice / 1000))
            remaining -= slice
        }
    }

    // MARK: working

    private func workLoop() {
        var random = SystemRandomNumberGenerator()
        var next: PendingClaim?
        while !isStopping {
            let claim = next?.wait() ?? claimBatch()
            // A full batch starts the next claim before it runs: the store's claim and the plugins' work overlap.
            next = claim.items.count == config.worker.batch ? PendingClaim(on: claimer) { [self] in claimBatch() } : nil
            // A batch runs whole on the generation current when it starts: a reload takes effect between batches.
            let ran = holding { run(claim, executor: $0.executor, random: &random) }
            if ran == 0 { sleepUnlessStopping(nanos: config.worker.idleMillis * 1_000_000) }
        }
        // A batch claimed ahead is in flight too: run it (plugins are cancelled by now, so its items end as retries) and commit.
        if let next { holding { run(next.wait(), executor: $0.executor, random: &random) } }
        committer.sync {}  // the last outcomes are committed before the worker reports stopped
    }

    /// Claimed items, and the store's hold on them when it held them instead of leasing them.
    struct Claim {
        var items: [ClaimedWork] = []
        var held: (any HeldBatch)?
    }

    /// A claim running on the claimer queue while the worker runs the previous batch.
    final class PendingClaim: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var claim = Claim()

        init(on queue: DispatchQueue, _ make: @escaping @Sendable () -> Claim) {
            queue.async { [self] in
                claim = make()
                done.signal()
            }
        }

        func wait() -> Claim {
            done.wait()
            return claim
        }
    }

    /// Claims a batch: held by the store when it offers that (nothing written to claim, docs/STORE.md guarantee 2),
    /// else leased.
    private func claimBatch() -> Claim {
        let now = Clock.nowMillis(), limit = config.worker.batch, lease = config.worker.leaseMillis
        do {
            if let holder = store as? any HeldClaims, let batch = try holder.claimHeld(limit: limit, now: now, leaseMillis: lease) {
                if !batch.items.isEmpty { heldBatches.withLock { $0[ObjectIdentifier(batch)] = batch } }
                return Claim(items: batch.items, held: batch)
            }
            let items = try store.claim(limit: limit, now: now, leaseMillis: lease)
            inFlight.withLock { $0.formUnion(items.map(\.id)) }
            return Claim(items: items)
        } catch {
            storeOutage.failed(error, while: "claiming work")
            return Claim()
        }
    }

    /// Runs claimed items and commits their outcomes (asynchronously, at most two batches in flight).
    @discardableResult
    private func run(_ claim: Claim, executor: WorkflowExecutor, random: inout some RandomNumberGenerator) -> Int {
        let items = claim.items
        guard !items.isEmpty else { return 0 }
        var outcomes: [WorkOutcome] = []
        outcomes.reserveCapacity(items.count)
        let ledger = BatchLedger(store: store, prefetch: executor.ledgerKeys(for: items))
        var metrics = RuntimeMetrics.Batch()
        defer { metrics.flush() }
        // Items are passed from the array's buffer, not copied out of it: a copy retains every field of an item and
        // of its event (about 2% of the worker's CPU in `bench runtime`).
        items.withUnsafeBufferPointer { buffer in
            for i in buffer.indices {
                outcomes.append(runItem(buffer[i], executor: executor, random: &random, ledger: ledger, metrics: &metrics))
            }
        }
        // Commit on the committer queue while the next batch runs (at most two batches in flight):
        // claims and commits meet in the same group transaction.
        commitSlots.wait()
        let finished = outcomes, held = claim.held
        committer.async { [self] in
            defer {
                // Committed, or lost with the connection: either way no longer this host's to renew.
                if let held { heldBatches.withLock { $0[ObjectIdentifier(held)] = nil } } else { inFlight.withLock { $0.subtract(finished.map(\.workID)) } }
                commitSlots.signal()
            }
            do {
                if let held { try held.finish(finished, now: Clock.nowMillis()) } else { try store.finish(finished, now: Clock.nowMillis()) }
                storeOutage.succeeded()
                recentWrites.committed(finished)
                auditGivingUp(items, finished)
                supersedeExceptions(items, finished)
                counters.processed.add(finished.count, ordering: .relaxed)
                counters.lastWorkCommitted.store(Clock.monotonicNanoseconds(), ordering: .releasing)
            } catch {
                // Nothing was committed: a held batch's items are due again at once, leased ones when their leases expire;
                // either way they run again (writes are idempotent).
                storeOutage.failed(error, while: "committing work outcomes")
            }
        }
        return items.count
    }

    /// Runs one claimed item: its outcome, logged, counted, and the connection paused if credentials were rejected.
    private func runItem(_ item: ClaimedWork, executor: WorkflowExecutor, random: inout some RandomNumberGenerator,
                         ledger: BatchLedger, metrics: inout RuntimeMetrics.Batch) -> WorkOutcome {
        let outcome = executor.run(item, now: Clock.nowMillis(), random: &random, ledger: ledger)
        switch outcome.disposition {
        case .exception(let reason):
            logger.warning("transaction to the exception queue", metadata: [
                "tenant": "\(item.tenant)", "workflow": "\(item.workflow)", "trace": "work-\(item.id)",
                "connection": "\(outcome.connection ?? "-")", "reason": "\(reason)",
                "error": "\(outcome.diagnostics.first?.description ?? "")"])
        case .retry(_, let status):
            logger.debug("transaction will be retried", metadata: [
                "tenant": "\(item.tenant)", "workflow": "\(item.workflow)", "trace": "work-\(item.id)",
                "connection": "\(outcome.connection ?? "-")", "status": "\(status)"])
        default: break
        }
        if case .parked = outcome.disposition, let connection = outcome.connection {
            pauseOnItsOwn(tenant: item.tenant, connection: connection,
                          reason: "AUTH: \(outcome.diagnostics.first?.summary ?? "credentials rejected")")
        }
        metrics.record(item, outcome)
        return outcome
    }

    /// Pauses a connection whose credentials were rejected, and says so in the audit trail (actor
    /// `switchboard`) the first time: a decision the runtime takes on its own is audited as an operator's is.
    private func pauseOnItsOwn(tenant: String, connection: String, reason: String) {
        let already = ((try? store.pausedConnections()) ?? []).contains { $0.tenant == tenant && $0.connection == connection }
        _ = try? store.setConnectionPaused(tenant: tenant, connection: connection, paused: true, reason: reason, now: Clock.nowMillis())
        guard !already else { return }
        logger.error("connection paused: credentials rejected", metadata: ["tenant": "\(tenant)", "connection": "\(connection)"])
        auditOwnDecision("connection.pause", target: "\(tenant)/\(connection)", detail: reason)
    }

    /// The actor the runtime's own decisions are audited under.
    public static let ownActor = "switchboard"

    /// Writes a decision the runtime took on its own to the audit trail, as an operator's action is written
    /// (actor `switchboard`, the detail redacted). A store that cannot take it costs a log line, not the decision.
    func auditOwnDecision(_ action: String, target: String, detail: String) {
        do {
            try store.audit(actor: Self.ownActor, action: action, target: target, detail: Redactor.redact(detail), now: Clock.nowMillis())
        } catch {
            logger.error("cannot write the audit trail", metadata: ["action": "\(action)", "target": "\(target)", "error": "\(error)"])
        }
    }

    /// Resolves the open exception items that the batch's done items superseded (an older event of the same record,
    /// type and workflow): the newer version went through, so the old item no longer blocks its money.
    private func supersedeExceptions(_ items: [ClaimedWork], _ outcomes: [WorkOutcome]) {
        if outcomes.contains(where: { if case .exception = $0.disposition { true } else { false } }) {
            counters.mayHaveOpenExceptions.store(true, ordering: .relaxed)
        }
        guard counters.mayHaveOpenExceptions.load(ordering: .relaxed) else { return }
        var done: [DoneWork] = []
        for (item, outcome) in zip(items, outcomes) {
            if case .done = outcome.disposition { done.append(DoneWork(tenant: item.tenant, workflow: item.workflow, eventID: item.eventID, workID: item.id)) }
        }
        guard !done.isEmpty else { return }
        do {
            let resolved = try store.supersedeExceptions(by: done, now: Clock.nowMillis())
            if !resolved.isEmpty {
                logger.info("exception items superseded by newer events that went through",
                            metadata: ["items": "\(resolved.map { "#\($0)" }.joined(separator: ", "))"])
            }
        } catch {
            logger.error("cannot resolve superseded exception items", metadata: ["error": "\(error)"])
        }
    }

    /// Audits each committed item the runtime gave up retrying (retry.max_attempts or retry.max_age reached).
    private func auditGivingUp(_ items: [ClaimedWork], _ outcomes: [WorkOutcome]) {
        for (item, outcome) in zip(items, outcomes) {
            guard case .exception(let reason) = outcome.disposition, reason == "max_attempts" || reason == "max_age" else { continue }
            let why = outcome.diagnostics.map(\.summary).joined(separator: "; ")
            auditOwnDecision("work.give_up", target: "\(item.tenant)/\(item.workflow)/work-\(item.id)",
                             detail: "\(reason) at \(outcome.connection ?? "-"): \(why)")
        }
    }

    /// Starts the runtime, waits until nothing is left (or the timeout), then stops it (tests, batch jobs).
    public func drain(timeoutSeconds: Double = 60) throws {
        start()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !isIdle() && Date() < deadline { usleep(20_000) }
        stop()
    }
}

extension Runtime {
    /// Ingests records or events that arrived outside a poll (webhooks, benchmarks):
    /// validated, echo-checked and committed atomically, like a polled batch.
    public func ingest(tenant: String, source: String, kind: EmitKind, items: [(key: String, data: [UInt8])]) throws -> IngestOutcome {
        let ingestor = Ingestor(store: store, router: router, recentWrites: recentWrites)
        var batch = IngestBatch()
        for item in items {
            switch ingestor.convert(tenant: tenant, source: source, kind: kind, key: item.key, data: item.data) {
            case .event(let event, let seen):
                batch.events.append(event)
                if let seen { batch.seen.append(seen) }
            case .rejected(let record): batch.rejected.append(record)
            case .echo: counters.echoes.add(1, ordering: .relaxed)
            }
        }
        return try store.ingest(batch, now: Clock.nowMillis())
    }
}
