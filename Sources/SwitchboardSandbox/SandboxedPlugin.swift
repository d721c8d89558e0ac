#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import Synchronization

/// A plugin that runs in a supervised worker process (docs/SANDBOX.md): the
/// same operations as an in-process `PluginInstance`, plus crash, hang and
/// out-of-memory detection, restarts with backoff and a circuit breaker.
public final class SandboxedPlugin: PluginHandle, @unchecked Sendable {
    public let path: String
    public private(set) var info: PluginInfo
    public let settings: SandboxSettings
    private var services: InstanceServices
    private var openConfig: [UInt8]?
    private let serial = NSLock()
    private var worker: WorkerProcess?
    private var closed = false
    private let cancelled = Atomic<Bool>(false)
    private let health = Mutex(SandboxHealth())
    /// A call the caller stopped waiting for, still running in the worker (under `serial`).
    private var detached: (op: WorkerOp, since: Int64, watchdog: Int64)?

    /// What the worker reported about its own hardening at its last start.
    public private(set) var hardening = WorkerHardening()

    private init(path: String, info: PluginInfo, settings: SandboxSettings, worker: WorkerProcess, hardening: WorkerHardening) {
        self.path = path
        self.info = info
        self.settings = settings
        self.worker = worker
        self.hardening = hardening
        services = InstanceServices()
    }

    deinit { shutdown() }

    /// Starts a worker and loads the plugin in it; a refusal names the file as the in-process loader would.
    public static func load(path: String, settings: SandboxSettings = SandboxSettings()) throws(PluginLoadError) -> SandboxedPlugin {
        do throws(StartFailure) {
            let (worker, hardening) = try spawnWorker(path: path, settings: settings)
            do throws(StartFailure) {
                let info = try loadPlugin(path: path, in: worker, settings: settings)
                return SandboxedPlugin(path: path, info: info, settings: settings, worker: worker, hardening: hardening)
            } catch {
                try? worker.channel.send(FrameWriter(type: .quit).framed())
                worker.reap(graceMillis: 1_000)
                throw error
            }
        } catch let failure {
            throw PluginLoadError(path: path, reason: .sandboxed(code: failure.code, message: failure.message), pluginID: failure.pluginID)
        }
    }

    /// Loads the plugin in a short-lived worker and returns its manifest: no plugin code runs in the host.
    public static func inspect(path: String, settings: SandboxSettings = SandboxSettings()) throws(PluginLoadError) -> PluginInfo {
        let plugin = try load(path: path, settings: settings)
        defer { plugin.shutdown() }
        return plugin.info
    }

    // MARK: operations

    public func configSpec() throws(PluginCallError) -> String {
        var spec: String?
        let outcome = call(.spec, sink: { item in
            if item.kind == .spec { spec = String(decoding: item.data, as: UTF8.self) }
            return .ok
        }) { _ in }
        guard outcome.isOK, let spec else { throw PluginCallError(pluginID: pluginID, operation: "spec", outcome: outcome) }
        return spec
    }

    public func validate(config: [UInt8]) -> CallOutcome {
        call(.validateConfig, sink: nil) { $0.bytes(config) }
    }

    /// Opens the plugin's one instance in the worker; a restarted worker re-opens it with the same config.
    @discardableResult
    public func open(config: [UInt8], services: InstanceServices = InstanceServices()) throws(PluginCallError) -> SandboxedPlugin {
        let validation = validate(config: config)
        guard validation.isOK else { throw PluginCallError(pluginID: pluginID, operation: "validate_config", outcome: validation) }
        var scoped = services
        scoped.rawSecretsAllowed = services.rawSecretsAllowed && info.has(.rawSecrets)
        serial.lock()
        self.services = scoped
        serial.unlock()
        let outcome = call(.open, sink: nil) { self.encodeOpen(config, into: &$0) }
        guard outcome.isOK else { throw PluginCallError(pluginID: pluginID, operation: "open", outcome: outcome) }
        serial.lock()
        openConfig = config
        serial.unlock()
        return self
    }

    public func checkConnection(deadline: Int64 = 0, labels: [String: String] = [:]) -> CallOutcome {
        call(.checkConnection, deadline: deadline, labels: labels, sink: nil) { _ in }
    }

    public func discover() -> (CallOutcome, String?) {
        var catalog: String?
        let outcome = call(.discover, sink: { item in
            catalog = String(decoding: item.data, as: UTF8.self)
            return .ok
        }) { _ in }
        return (outcome, catalog)
    }

    public func read(stream: String, state: [UInt8], maxRecords: Int = 0, deadline: Int64 = 0, labels: [String: String] = [:],
                     sink: @escaping EmitSink) -> CallOutcome {
        call(.read, deadline: deadline, labels: labels, sink: sink) {
            $0.string(stream)
            $0.bytes(state)
            $0.u32(UInt32(clamping: maxRecords))
        }
    }

    public func write(entity: String, idempotencyKey: String, externalID: String = "", record: [UInt8],
                      deadline: Int64 = 0, labels: [String: String] = [:], onResult: ((String) -> Void)? = nil) -> (CallOutcome, String?) {
        var resultID: String?
        let outcome = call(.write, deadline: deadline, labels: labels, detachable: true, sink: { item in
            resultID = item.keyString
            onResult?(item.keyString)
            return .ok
        }) {
            $0.string(entity)
            $0.string(idempotencyKey)
            $0.string(externalID)
            $0.bytes(record)
        }
        return (outcome, outcome.isOK ? resultID : nil)
    }

    public func handleWebhook(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8],
                              deadline: Int64 = 0, sink: @escaping EmitSink) -> CallOutcome {
        call(.handleWebhook, deadline: deadline, sink: sink) {
            $0.string(method)
            $0.string(url)
            $0.map(headers.map { ($0.name, $0.value) })
            $0.bytes(body)
        }
    }

    public func onEvent(type: String, event: UnsafeRawBufferPointer, deadline: Int64 = 0, labels: [String: String] = [:],
                        sink: EmitSink?) -> CallOutcome {
        call(.onEvent, deadline: deadline, labels: labels, detachable: true, sink: sink) {
            $0.string(type)
            $0.bytes(event)
        }
    }

    public func fetch(entity: String, externalID: String, eventType: String, deadline: Int64 = 0, labels: [String: String] = [:],
                      sink: @escaping EmitSink) -> CallOutcome {
        call(.fetch, deadline: deadline, labels: labels, sink: sink) {
            $0.string(entity)
            $0.string(externalID)
            $0.string(eventType)
        }
    }

    /// Stops the call in progress: the worker is killed (its plugin cannot be interrupted otherwise) and restarts on the next call.
    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
    }

    /// Closes the instance and stops the worker (QUIT, then SIGKILL after the grace period).
    public func close() {
        serial.lock()
        defer { serial.unlock() }
        guard !closed else { return }
        closed = true
        stopWorker(graceful: true)
    }

    /// Stops the worker without marking the plugin closed (inspection probes).
    func shutdown() {
        serial.lock()
        defer { serial.unlock() }
        stopWorker(graceful: true)
    }

    /// Health as the runtime and operators see it.
    public var status: SandboxHealth { health.withLock { $0 } }

    /// The worker's pid, if one runs (tests use it to check for orphans).
    public var workerPID: pid_t? {
        serial.lock()
        defer { serial.unlock() }
        return worker?.pid
    }

    /// Bytes the worker printed to stdout/stderr so far (plugins should log through the host instead).
    /// A drain thread counts them as it reads the output, so the figure may trail the worker's writes briefly.
    public var printedBytes: Int {
        serial.lock()
        defer { serial.unlock() }
        // Earlier workers' output was added to the health record when they died.
        return health.withLock { $0.printedBytes } + (worker?.output.totalBytes ?? 0)
    }

    // MARK: the call path

    private func encodeOpen(_ config: [UInt8], into frame: inout FrameWriter) {
        frame.bytes(config)
        frame.bool(services.rawSecretsAllowed)
        frame.string(services.tenant)
        frame.string(services.connection)
    }

    private func call(_ op: WorkerOp, deadline: Int64 = 0, labels: [String: String] = [:], detachable: Bool = false, sink: EmitSink?,
                      arguments: (inout FrameWriter) -> Void) -> CallOutcome {
        serial.lock()
        defer { serial.unlock() }
        if closed { return CallOutcome(status: .fatal, diagnostics: [Diagnostic("\(op.name): the instance is closed")]) }
        if let busy = detached {
            let now = Clock.monotonicNanoseconds()
            return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                "plugin \(pluginID) (sandboxed) is busy: its \(busy.op.name) call has run \((now - busy.since) / 1_000_000) ms")],
                               retryAfterMillis: max(1, min((busy.watchdog - now) / 1_000_000, 1_000)))
        }
        cancelled.store(false, ordering: .relaxed)
        if let refusal = admit() { return refusal }
        guard let worker = readyWorker() else {
            return health.withLock { CallOutcome(status: .retry, diagnostics: [Diagnostic($0.lastFailure ?? "sandbox worker unavailable")]) }
        }
        let effectiveDeadline = deadline != 0 ? deadline : Clock.monotonicNanoseconds() + settings.defaultCallMillis * 1_000_000
        var frame = FrameWriter(type: .call)
        frame.u8(op.rawValue)
        frame.i64(deadline)
        frame.map(labels.map { ($0.key, $0.value) })
        arguments(&frame)
        let watchdog = effectiveDeadline + settings.graceMillis * 1_000_000
        let started = Clock.monotonicNanoseconds()
        let detachAt = detachable && settings.detachAfterMillis > 0 ? started + settings.detachAfterMillis * 1_000_000 : nil
        do {
            try worker.channel.send(frame.framed())
            let outcome = try exchange(worker, op: op, labels: labels, sink: sink, watchdog: watchdog, detachAt: detachAt)
            health.withLock { $0.succeeded() }
            return outcome
        } catch .detached {
            return detach(worker, op: op, since: started, watchdog: watchdog)
        } catch {
            return fail(worker, op: op, error: error, deadlineMillis: (effectiveDeadline - Clock.monotonicNanoseconds()) / 1_000_000)
        }
    }

    /// Stops waiting for a call that outlived `detachAfterMillis`: a thread follows it to its end (its
    /// items are dropped; the caller got RETRY, and a write's retry is idempotent), and until then the
    /// plugin's other calls are answered RETRY at once. Called under `serial`.
    private func detach(_ worker: WorkerProcess, op: WorkerOp, since: Int64, watchdog: Int64) -> CallOutcome {
        detached = (op, since, watchdog)
        let thread = Thread { [self] in
            let result: Result<CallOutcome, ChannelError>
            do throws(ChannelError) {
                result = .success(try exchange(worker, op: op, labels: [:], sink: nil, watchdog: watchdog, detachAt: nil))
            } catch { result = .failure(error) }
            serial.lock()
            defer {
                detached = nil
                serial.unlock()
            }
            // Closed or replaced meanwhile: that path already stopped this worker.
            guard self.worker === worker else { return }
            switch result {
            case .success: health.withLock { $0.succeeded() }
            case .failure(let error): _ = fail(worker, op: op, error: error, deadlineMillis: 0)
            }
        }
        thread.stackSize = 512 * 1024
        thread.start()
        let waited = (Clock.monotonicNanoseconds() - since) / 1_000_000
        services.logger.warning("sandboxed call still running: the caller stopped waiting", metadata: [
            "plugin": .string(pluginID), "tenant": .string(services.tenant), "connection": .string(services.connection),
            "operation": .string(op.name), "waited_ms": .string("\(waited)"),
        ])
        return CallOutcome(status: .retry, diagnostics: [Diagnostic(
            "plugin \(pluginID) (sandboxed) did not answer \(op.name) within \(settings.detachAfterMillis) ms; the call runs on until its deadline, and this connection's other calls wait for it",
            detail: "tenant \(services.tenant), connection \(services.connection)")],
                           retryAfterMillis: max(1, min((watchdog - Clock.monotonicNanoseconds()) / 1_000_000, 1_000)))
    }

    /// Reads the worker's frames until the call's RESULT, serving its requests on the way. Past
    /// `detachAt` (if given) it throws `.detached`: the call is still the worker's, unanswered.
    private func exchange(_ worker: WorkerProcess, op: WorkerOp, labels: [String: String], sink: EmitSink?,
                          watchdog: Int64, detachAt: Int64? = nil) throws(ChannelError) -> CallOutcome {
        var sinkStopped = false
        var watchdog = watchdog
        var cancelSeen = false
        while true {
            // A host cancel gives the plugin the grace period to return, then the worker is killed.
            if !cancelSeen && cancelled.load(ordering: .relaxed) {
                cancelSeen = true
                watchdog = min(watchdog, Clock.monotonicNanoseconds() + settings.graceMillis * 1_000_000)
            }
            let frame: Frame
            do {
                frame = try worker.channel.receive(deadline: min(watchdog, detachAt ?? .max, Clock.monotonicNanoseconds() + 100_000_000))
            } catch .timedOut {
                let now = Clock.monotonicNanoseconds()
                if let detachAt, now >= detachAt, now < watchdog, !cancelled.load(ordering: .relaxed) { throw .detached }
                if now < watchdog { continue }
                throw .timedOut
            }
            do {
                switch try WorkerFrame.decode(frame) {
                case .emit(let kind, let key, let data):
                    guard !sinkStopped, let sink else { continue }
                    let status = key.withUnsafeBytes { k in data.withUnsafeBytes { d in sink(EmittedItem(kind: kind, key: k, data: d)) } }
                    if status == .cancelled { sinkStopped = true }
                case .log(let level, let message, let metadata):
                    relayLog(level: level, message: message, metadata: metadata, labels: labels)
                case .metric(let kind, let name, let value, let extra):
                    guard let kind else { continue }
                    services.metrics?.record(kind: kind, name: name, value: value,
                                             labels: ["plugin": pluginID, "connection": services.connection, "labels": extra])
                case .request(let request):
                    try worker.channel.send(serve(request).framed())
                case .result(var outcome):
                    if sinkStopped && outcome.status == .ok { outcome.status = .cancelled }
                    return outcome
                default:
                    throw ProtocolViolation(description: "unexpected frame type \(frame.type) during \(op.name)")
                }
            } catch let violation as ProtocolViolation {
                throw .violation(violation.description)
            } catch let channel as ChannelError {
                throw channel
            } catch {
                throw .violation("\(error)")
            }
        }
    }

    private func relayLog(level: Logger.Level, message: String, metadata pairs: [(String, String)], labels: [String: String]) {
        var metadata: Logger.Metadata = [:]
        for (k, v) in pairs { metadata[k] = .string(Redactor.redact(v)) }
        // The host's own labels win over anything the worker claims.
        metadata["plugin"] = .string(pluginID)
        metadata["tenant"] = .string(services.tenant)
        metadata["connection"] = .string(services.connection)
        metadata["sandbox"] = .string("worker")
        services.logger.log(level: level, "\(Redactor.redact(message))", metadata: metadata)
    }

    /// Answers one REQUEST with the host's real services, under the host's rules.
    private func serve(_ request: ServiceRequest) -> FrameWriter {
        var reply = FrameWriter(type: .reply)
        switch request {
        case .secret(let name):
            guard services.rawSecretsAllowed else {
                reply.i32(OperationStatus.auth.rawValue)
                reply.string("plugin \(pluginID) may not read raw secrets")
                return reply
            }
            do {
                if let value = try services.secrets?.secret(named: name) {
                    reply.i32(OperationStatus.ok.rawValue)
                    reply.bytes(value)
                } else {
                    reply.i32(OperationStatus.config.rawValue)
                }
            } catch {
                reply.i32(OperationStatus.retry.rawValue)
                reply.string("secret \"\(name)\" could not be read")
            }
        case .stateGet(let key):
            do {
                let value = try services.state.value(forKey: key)
                reply.i32(OperationStatus.ok.rawValue)
                reply.bool(value != nil)
                if let value { reply.bytes(value) }
            } catch {
                reply.i32(OperationStatus.retry.rawValue)
                reply.string("state \"\(key)\" could not be read: \(error)")
            }
        case .statePut(let key, let value):
            do {
                try services.state.setValue(value, forKey: key)
                reply.i32(OperationStatus.ok.rawValue)
            } catch {
                reply.i32(OperationStatus.retry.rawValue)
                reply.string("state \"\(key)\" could not be written: \(error)")
            }
        case .http(let request):
            guard let egress = services.egress else {
                reply.i32(OperationStatus.config.rawValue)
                reply.string("no HTTP egress is configured for connection \(services.connection)")
                reply.string("egress")
                return reply
            }
            switch egress.send(request) {
            case .response(let status, let responseHeaders, let responseBody):
                reply.i32(OperationStatus.ok.rawValue)
                reply.i32(Int32(status))
                reply.map(responseHeaders.map { ($0.name, $0.value) })
                reply.bytes(responseBody)
            case .failed(let status, let diagnostic):
                reply.i32(status.rawValue)
                reply.string(diagnostic.summary)
                reply.string(diagnostic.fieldPath)
            }
        }
        return reply
    }

    // MARK: supervision

    /// Refuses a call at once while the circuit is open or a restart is backing off.
    private func admit() -> CallOutcome? {
        let now = Clock.monotonicNanoseconds()
        return health.withLock { h -> CallOutcome? in
            if let until = h.circuitOpenUntil, now < until {
                return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                    "circuit open: \(h.consecutiveFailures) consecutive worker failures of plugin \(pluginID); next trial in \((until - now) / 1_000_000) ms",
                    detail: h.lastFailure ?? "")], retryAfterMillis: (until - now) / 1_000_000)
            }
            if worker == nil, let after = h.restartNotBefore, now < after {
                return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                    "sandbox worker restarting in \((after - now) / 1_000_000) ms", detail: h.lastFailure ?? "")],
                                   retryAfterMillis: (after - now) / 1_000_000)
            }
            return nil
        }
    }

    /// The running worker, or a fresh one with the plugin loaded and the instance re-opened.
    private func readyWorker() -> WorkerProcess? {
        if let worker { return worker }
        do {
            let (fresh, report, loaded) = try Self.start(path: path, settings: settings)
            guard loaded.descriptor.id == info.descriptor.id else {
                fresh.kill()
                fresh.reap(graceMillis: 0)
                recordFailure("the plugin file changed: it now reports id \(loaded.descriptor.id)", kind: .crash)
                return nil
            }
            hardening = report
            worker = fresh
            health.withLock { $0.restarts += 1 }
            if let config = openConfig {
                var frame = FrameWriter(type: .call)
                frame.u8(WorkerOp.open.rawValue)
                frame.i64(0)
                frame.map([])
                encodeOpen(config, into: &frame)
                try fresh.channel.send(frame.framed())
                let outcome = try exchange(fresh, op: .open, labels: [:], sink: nil,
                                           watchdog: Clock.monotonicNanoseconds() + settings.defaultCallMillis * 1_000_000)
                guard outcome.isOK else {
                    stopWorker(graceful: false)
                    recordFailure("re-opening the instance after a restart failed: \(outcome.summary)", kind: .crash)
                    return nil
                }
            }
            return fresh
        } catch let failure as StartFailure {
            recordFailure(failure.message, kind: .crash)
        } catch {
            if let w = worker { _ = fail(w, op: .open, error: error, deadlineMillis: 0) }
        }
        return nil
    }

    struct StartFailure: Error {
        var code: String
        var message: String
        var pluginID: String?
    }

    private static func start(path: String, settings: SandboxSettings) throws(StartFailure) -> (WorkerProcess, WorkerHardening, PluginInfo) {
        let (worker, report) = try spawnWorker(path: path, settings: settings)
        return (worker, report, try loadPlugin(path: path, in: worker, settings: settings))
    }

    /// Starts a worker and reads its HELLO.
    static func spawnWorker(path: String, settings: SandboxSettings) throws(StartFailure) -> (WorkerProcess, WorkerHardening) {
        let worker: WorkerProcess
        let spawned: SpawnedContainment
        do { (worker, spawned) = try WorkerProcess.spawn(executable: settings.resolvedExecutable, plugin: path, settings: settings) } catch {
            throw StartFailure(code: "sandbox-spawn", message: "\(path): \(error.description)")
        }
        do {
            let hello = try worker.channel.receive(deadline: Clock.monotonicNanoseconds() + settings.startMillis * 1_000_000)
            guard hello.type == FrameType.hello.rawValue, case .hello(let h) = try WorkerFrame.decode(hello) else {
                throw ChannelError.violation("expected HELLO")
            }
            return (worker, WorkerHardening(namespaces: spawned.namespaces, uid: spawned.uid, ownUser: spawned.ownUser,
                                            landlockABI: h.landlockABI, privateRoot: spawned.privateRoot, signalScope: h.signalScope,
                                            seccomp: h.seccomp, rlimits: h.rlimits))
        } catch {
            throw died(worker, path: path, during: "starting", error, settings: settings)
        }
    }

    /// Loads the plugin file in a running worker and returns what it reported. The whole load
    /// (constructors, manifest, init) runs under the start-up deadline; a worker that dies or
    /// hangs is reported with the stage it was in and, once the manifest was read, the plugin's id.
    static func loadPlugin(path: String, in worker: WorkerProcess, settings: SandboxSettings) throws(StartFailure) -> PluginInfo {
        var stage: PluginLibrary.LoadStage?
        var pluginID: String?
        let deadline = Clock.monotonicNanoseconds() + settings.startMillis * 1_000_000
        do {
            var load = FrameWriter(type: .load)
            load.string(path)
            try worker.channel.send(load.framed())
            while true {
                let answer = try worker.channel.receive(deadline: deadline)
                switch try WorkerFrame.decode(answer) {
                case .stage(let reached, let id):
                    stage = reached
                    if !id.isEmpty { pluginID = id }
                case .log, .metric:
                    continue  // init may log; nothing to relay it to yet
                case .loaded(let descriptor, let capabilities, let negotiatedMinor):
                    return PluginInfo(path: path, descriptor: descriptor, capabilities: capabilities, negotiatedMinor: negotiatedMinor)
                case .loadFailed(let code, let message):
                    throw StartFailure(code: code, message: message, pluginID: pluginID)
                default:
                    throw ChannelError.violation("unexpected frame \(answer.type) while loading")
                }
            }
        } catch let failure as StartFailure {
            throw failure
        } catch {
            let during = stage.map { "loading the plugin, \($0.text)" } ?? "loading the plugin"
            throw died(worker, path: path, during: during, error, settings: settings, pluginID: pluginID)
        }
    }

    /// A worker that failed to start or load: killed, reaped, and described as what happened to it.
    private static func died(_ worker: WorkerProcess, path: String, during: String, _ error: any Error, settings: SandboxSettings,
                             pluginID: String? = nil) -> StartFailure {
        let timedOut = (error as? ChannelError).map { if case .timedOut = $0 { true } else { false } } ?? false
        worker.kill()
        let status = worker.reap(graceMillis: 0)
        if timedOut {
            return StartFailure(code: "sandbox-timeout", message: "\(path): the sandbox worker did not finish \(during) within \(settings.startMillis) ms; it was killed",
                                pluginID: pluginID)
        }
        let death = WorkerDeath.describe(status: status, output: worker.output.text, limitMB: settings.limits.memoryMB)
        let code = death.kind == .exit ? "sandbox-exit" : "sandbox-crash"
        var detail = if case .violation(let why)? = error as? ChannelError { " (\(why))" } else { "" }
        // What it printed last (the dynamic linker's or the plugin's own words), scrubbed.
        let printed = worker.output.printed(lines: 2).replacingOccurrences(of: "\n", with: " / ")
        if !printed.isEmpty { detail += "; it printed: \(Redactor.redact(String(printed.suffix(300))))" }
        return StartFailure(code: code, message: "\(path): the sandbox worker \(death.text) while \(during)\(detail)", pluginID: pluginID)
    }

    /// The worker failed during a call: kill, reap, classify, schedule a restart, answer RETRY.
    private func fail(_ worker: WorkerProcess, op: WorkerOp, error: any Error, deadlineMillis: Int64) -> CallOutcome {
        let timedOut = (error as? ChannelError).map { if case .timedOut = $0 { true } else { false } } ?? false
        let cancelledByHost = cancelled.load(ordering: .relaxed)
        worker.kill()
        let status = worker.reap(graceMillis: 0)
        self.worker = nil
        let death: (text: String, kind: SandboxHealth.FailureKind)
        if cancelledByHost {
            death = ("was stopped: the host cancelled \(op.name)", .cancelled)
        } else if timedOut {
            death = ("hung: no answer to \(op.name) within its deadline plus \(settings.graceMillis) ms grace; worker killed", .hang)
        } else if case .violation(let why)? = error as? ChannelError {
            death = ("broke the protocol during \(op.name) (\(why)); worker killed", .protocolViolation)
        } else {
            let d = WorkerDeath.describe(status: status, output: worker.output.text, limitMB: settings.limits.memoryMB)
            death = ("\(d.text) during \(op.name)", d.kind)
        }
        health.withLock { $0.printedBytes += worker.output.totalBytes }
        let message = "plugin \(pluginID) (sandboxed) \(death.text)"
        recordFailure(message, kind: death.kind)
        if death.kind != .cancelled {
            services.logger.warning("sandbox worker failed", metadata: [
                "plugin": .string(pluginID), "tenant": .string(services.tenant), "connection": .string(services.connection),
                "error": .string(Redactor.redact(message)),
            ])
        }
        let code: OperationStatus = death.kind == .cancelled ? .cancelled : .retry
        let printed = worker.output.printed()
        return CallOutcome(status: code, diagnostics: [Diagnostic(message, detail: Redactor.redact(String(printed.suffix(512))))])
    }

    private func recordFailure(_ message: String, kind: SandboxHealth.FailureKind) {
        let now = Clock.monotonicNanoseconds()
        health.withLock { h in
            h.failed(kind, message: message)
            let exponent = min(h.consecutiveFailures - 1, 20)
            let backoff = min(settings.maxRestartBackoffMillis, settings.restartBackoffMillis << exponent)
            h.restartNotBefore = now + backoff * 1_000_000
            if h.consecutiveFailures >= settings.breakerFailures {
                h.circuitOpenUntil = now + settings.breakerCooldownMillis * 1_000_000
            }
        }
    }

    private func stopWorker(graceful: Bool) {
        guard let worker else { return }
        self.worker = nil
        if graceful {
            try? worker.channel.send(FrameWriter(type: .quit).framed())
            worker.reap(graceMillis: 2_000)
        } else {
            worker.kill()
            worker.reap(graceMillis: 0)
        }
    }
}

/// What a worker achieved of its containment (docs/SANDBOX.md section 2): the host's part
/// (namespaces, ids) and the worker's own report (Landlock, seccomp, limits).
public struct WorkerHardening: Sendable, Equatable {
    /// New user, PID, mount, network, IPC and UTS namespaces.
    public var namespaces = false
    /// The worker's uid as the host sees it.
    public var uid: UInt32 = 0
    /// The worker runs under another uid than the host's (the host is privileged).
    public var ownUser = false
    /// The Landlock ABI enforcing the worker's filesystem view; 0: none.
    public var landlockABI = 0
    /// The worker's root is a private one holding only what it needs (where Landlock is not used).
    public var privateRoot = false
    /// No signal reaches a process outside the worker (Landlock scope, ABI 6+).
    public var signalScope = false
    public var seccomp = false
    public var rlimits = false

    public init(namespaces: Bool = false, uid: UInt32 = 0, ownUser: Bool = false, landlockABI: Int = 0, privateRoot: Bool = false,
                signalScope: Bool = false, seccomp: Bool = false, rlimits: Bool = false) {
        self.namespaces = namespaces
        self.uid = uid
        self.ownUser = ownUser
        self.landlockABI = landlockABI
        self.privateRoot = privateRoot
        self.signalScope = signalScope
        self.seccomp = seccomp
        self.rlimits = rlimits
    }

    /// How the worker's filesystem view is enforced.
    public var filesystem: String { landlockABI > 0 ? "landlock v\(landlockABI)" : privateRoot ? "private root" : "none" }

    /// Every mechanism docs/SANDBOX.md lists is in force (the signal scope is Landlock's; with a
    /// private root the PID namespace alone keeps the host out of reach).
    public var complete: Bool {
        namespaces && ownUser && (landlockABI > 0 ? signalScope : privateRoot) && seccomp && rlimits
    }

    /// One line for health output and logs: what holds and what does not.
    public var summary: String {
        "namespaces \(namespaces ? "user+pid+mount+net+ipc+uts" : "none"), uid \(uid)\(ownUser ? "" : " (the host's own)"), "
            + "filesystem \(filesystem), signals \(signalScope ? "scoped" : "unscoped"), seccomp \(seccomp ? "on" : "off"), "
            + "rlimits \(rlimits ? "on" : "off")"
    }
}

/// A sandboxed plugin's health: failures by kind, restarts, the circuit.
public struct SandboxHealth: Sendable {
    public enum FailureKind: String, Sendable { case crash, outOfMemory = "out_of_memory", hang, exit, protocolViolation = "protocol", cancelled }

    public var consecutiveFailures = 0
    public var failures: [FailureKind: Int] = [:]
    public var restarts = 0
    public var lastFailure: String?
    public var restartNotBefore: Int64?
    public var circuitOpenUntil: Int64?
    public var printedBytes = 0

    /// Degraded while the circuit is open or the last call failed.
    public var degraded: Bool { consecutiveFailures > 0 }

    public var circuitOpen: Bool { circuitOpenUntil.map { Clock.monotonicNanoseconds() < $0 } ?? false }

    mutating func failed(_ kind: FailureKind, message: String) {
        if kind != .cancelled { consecutiveFailures += 1 }
        failures[kind, default: 0] += 1
        lastFailure = message
    }

    mutating func succeeded() {
        consecutiveFailures = 0
        circuitOpenUntil = nil
        restartNotBefore = nil
    }
}

/// Reads a dead worker's wait status and crash line.
enum WorkerDeath {
    static func describe(status: Int32, output: String, limitMB: Int) -> (text: String, kind: SandboxHealth.FailureKind) {
        let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        var fields: [String: Int] = [:]
        if let line = output.split(separator: "\n").last(where: { $0.hasPrefix("SBCRASH ") }) {
            for part in line.split(separator: " ").dropFirst() {
                let kv = part.split(separator: "=")
                if kv.count == 2, let v = Int(kv[1]) { fields[String(kv[0])] = v }
            }
        }
        let exitCode = (status >> 8) & 0xff
        let signal: Int32
        if signaled {
            signal = status & 0x7f
        } else if let reported = fields["signal"], exitCode == 128 + reported {
            // The worker is its PID namespace's init, which cannot die of a signal it raises itself:
            // its crash reporter exits with 128 + the signal after the SBCRASH line naming it.
            signal = Int32(reported)
        } else {
            return ("exited with status \(exitCode)", .exit)
        }
        let name = signalName(signal)
        if let peak = fields["vm_peak_kb"], let limit = fields["as_limit_kb"], limit > 0, peak * 10 >= limit * 9 {
            return ("ran out of memory (address space peaked at \(peak / 1024) MiB of its \(limit / 1024) MiB limit) and died of \(name)", .outOfMemory)
        }
        if signal == SIGXCPU { return ("used up its CPU-time limit (\(name))", .hang) }
        return ("crashed with \(name)", .crash)
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        case SIGKILL: "SIGKILL"
        case SIGXCPU: "SIGXCPU"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}
