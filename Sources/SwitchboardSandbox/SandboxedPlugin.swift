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
    var services: InstanceServices
    var openConfig: [UInt8]?
    let serial = NSLock()
    var worker: WorkerProcess?
    var closed = false
    let cancelled = Atomic<Bool>(false)
    let healthRecord = Mutex(PluginHealth())
    /// A call the caller stopped waiting for, still running in the worker (under `serial`).
    var detached: (op: WorkerOp, since: Int64, watchdog: Int64)?

    /// What the worker reported about its own hardening at its last start.
    public internal(set) var hardening = WorkerHardening()

    init(path: String, info: PluginInfo, settings: SandboxSettings, worker: WorkerProcess, hardening: WorkerHardening) {
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
    public var status: PluginHealth { healthRecord.withLock { $0 } }

    public var health: PluginHealth? { status }
    public var containment: String? { hardening.summary }

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
        return healthRecord.withLock { $0.printedBytes } + (worker?.output.totalBytes ?? 0)
    }

}
