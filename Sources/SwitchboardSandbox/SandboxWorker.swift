#if canImport(Glibc)
import Glibc
#endif
import CSandbox
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost

/// The worker side: `switchboard __worker` hardens itself, loads one plugin
/// and serves the host's calls on fd 3 until QUIT or hang-up.
public enum SandboxWorker {
    /// The argv[1] that selects worker mode (the C constructor checks it too).
    public static let mode = "__worker"

    /// Serves the host. The containment is already in place: the host started this process in
    /// its namespaces and ids, and a C constructor applied limits, Landlock and seccomp before
    /// any thread existed (Sources/CSandbox).
    public static func run(arguments: [String]) -> Never {
        let report = sbx_worker_report().pointee
        _ = sbx_start_watchdog(3)

        let link = WorkerLink(channel: FrameChannel(fd: 3, spinNanoseconds: 50_000))
        var hello = FrameWriter(type: .hello)
        hello.u32(UInt32(getpid()))
        hello.bool(report.seccomp != 0)
        hello.bool(report.rlimits != 0)
        hello.u8(UInt8(clamping: report.landlock != 0 ? report.landlock_abi : 0))
        hello.bool(report.signal_scope != 0)
        link.send(hello)
        WorkerLoop(link: link).serve()
    }
}

/// One plugin, at most one instance, calls in order.
private final class WorkerLoop {
    let link: WorkerLink
    var library: PluginLibrary?
    var instance: PluginInstance?

    init(link: WorkerLink) { self.link = link }

    func serve() -> Never {
        while true {
            let frame: Frame
            do { frame = try link.readLock.withLock { _ in try link.channel.receive() } } catch { _exit(0) }
            do {
                switch FrameType(rawValue: frame.type) {
                case .load: try load(frame.reader)
                case .call: try call(frame.reader)
                case .quit:
                    instance?.close()
                    _exit(0)
                default: _exit(3)
                }
            } catch {
                _exit(3)  // the host sent garbage: nothing sensible to answer
            }
        }
    }

    private func load(_ reader: FrameReader) throws {
        var reader = reader
        let path = try reader.string()
        let result: Result<PluginLibrary, PluginLoadError>
        // Each stage is told to the host before it runs, so a worker that dies or hangs there is named by it.
        let stages: (PluginLibrary.LoadStage, String?) -> Void = { stage, id in
            var frame = FrameWriter(type: .stage)
            frame.u8(stage.rawValue)
            frame.string(id ?? "")
            self.link.send(frame)
        }
        do throws(PluginLoadError) { result = .success(try PluginLibrary.load(path: path, onStage: stages)) } catch { result = .failure(error) }
        switch result {
        case .success(let loaded):
            library = loaded
            var frame = FrameWriter(type: .loaded)
            let descriptor = try JSONEncoder().encode(loaded.descriptor)
            frame.bytes(Array(descriptor))
            frame.u64(loaded.info.capabilities)
            frame.u32(UInt32(loaded.negotiatedMinor))
            link.send(frame)
        case .failure(let error):
            var frame = FrameWriter(type: .loadFailed)
            frame.string(error.code)
            frame.string(error.description)
            link.send(frame)
        }
    }

    private func forward(_ item: EmittedItem) -> OperationStatus {
        var frame = FrameWriter(type: .emit)
        frame.u32(item.kind.rawValue)
        frame.bytes(item.key)
        frame.bytes(item.data)
        link.post(frame)
        return .ok
    }

    /// An item the worker synthesises from an operation's return value (spec, catalog, write result).
    private func post(_ kind: EmitKind, key: [UInt8] = [], data: [UInt8] = []) {
        var frame = FrameWriter(type: .emit)
        frame.u32(kind.rawValue)
        frame.bytes(key)
        frame.bytes(data)
        link.post(frame)
    }

    private func call(_ reader: FrameReader) throws {
        var r = reader
        guard let op = WorkerOp(rawValue: try r.u8()) else { throw ProtocolViolation(description: "unknown op") }
        let deadline = try r.i64()
        let labels = Dictionary(try r.map(), uniquingKeysWith: { $1 })
        guard let library else {
            finish(CallOutcome(status: .fatal, diagnostics: [Diagnostic("no plugin loaded")]))
            return
        }
        let noInstance = CallOutcome(status: .fatal, diagnostics: [Diagnostic("\(op.name): the instance is not open")])
        switch op {
        case .spec:
            do {
                let spec = try library.configSpec()
                post(.spec, data: Array(spec.utf8))
                finish(CallOutcome(status: .ok))
            } catch { finish(error.outcome) }
        case .validateConfig:
            finish(library.validate(config: try r.bytes()))
        case .open:
            let config = try r.bytes()
            let rawAllowed = try r.bool()
            let tenant = try r.string(), connection = try r.string()
            let services = InstanceServices(
                tenant: tenant, connection: connection,
                logger: Logger(label: "switchboard.plugin", factory: { _ in WorkerLogHandler(link: self.link) }),
                secrets: WorkerSecrets(link: link), rawSecretsAllowed: rawAllowed, state: WorkerState(link: link),
                egress: WorkerEgress(link: link), metrics: WorkerMetrics(link: link))
            do {
                instance?.close()
                instance = try library.open(config: config, services: services)
                finish(CallOutcome(status: .ok))
            } catch { finish(error.outcome) }
        case .checkConnection:
            finish(instance?.checkConnection(deadline: deadline, labels: labels) ?? noInstance)
        case .discover:
            guard let instance else { return finish(noInstance) }
            let (outcome, catalog) = instance.discover()
            if let catalog { post(.catalog, data: Array(catalog.utf8)) }
            finish(outcome)
        case .read:
            let stream = try r.string(), state = try r.bytes(), max = Int(try r.u32())
            finish(instance?.read(stream: stream, state: state, maxRecords: max, deadline: deadline, labels: labels, sink: forward) ?? noInstance)
        case .write:
            let entity = try r.string(), key = try r.string(), external = try r.string(), record = try r.bytes()
            guard let instance else { return finish(noInstance) }
            let (outcome, id) = instance.write(entity: entity, idempotencyKey: key, externalID: external, record: record,
                                               deadline: deadline, labels: labels)
            if let id, outcome.isOK { post(.writeResult, key: Array(id.utf8)) }
            finish(outcome)
        case .handleWebhook:
            let method = try r.string(), url = try r.string()
            let headers = try r.map().map { (name: $0.0, value: $0.1) }
            let body = try r.bytes()
            finish(instance?.handleWebhook(method: method, url: url, headers: headers, body: body, deadline: deadline, sink: forward) ?? noInstance)
        case .onEvent:
            let type = try r.string(), event = try r.bytes()
            guard let instance else { return finish(noInstance) }
            finish(event.withUnsafeBytes { instance.onEvent(type: type, event: $0, deadline: deadline, labels: labels, sink: forward) })
        case .fetch:
            let entity = try r.string(), external = try r.string(), type = try r.string()
            finish(instance?.fetch(entity: entity, externalID: external, eventType: type, deadline: deadline, labels: labels, sink: forward)
                   ?? noInstance)
        case .close:
            instance?.close()
            instance = nil
            finish(CallOutcome(status: .ok))
        }
    }

    private func finish(_ outcome: CallOutcome) {
        link.send(ResultCoding.encode(outcome))
    }
}

/// RESULT frames: status, Retry-After, diagnostics.
enum ResultCoding {
    static func encode(_ outcome: CallOutcome) -> FrameWriter {
        var frame = FrameWriter(type: .result)
        frame.i32(outcome.status.rawValue)
        frame.i64(outcome.retryAfterMillis ?? -1)
        frame.u32(UInt32(outcome.diagnostics.count))
        for d in outcome.diagnostics {
            frame.u8(d.severity == .error ? 0 : d.severity == .warning ? 1 : 2)
            frame.string(d.summary)
            frame.string(d.detail)
            frame.string(d.fieldPath)
        }
        return frame
    }

    static func decode(_ reader: FrameReader) throws(ProtocolViolation) -> CallOutcome {
        var r = reader
        let status = OperationStatus(raw: try r.i32())
        let retryAfter = try r.i64()
        let count = Int(try r.u32())
        guard count <= DiagnosticLimits.perCall + 1 else { throw ProtocolViolation(description: "\(count) diagnostics") }
        var diagnostics: [Diagnostic] = []
        for _ in 0..<count {
            let severity: Diagnostic.Severity = switch try r.u8() { case 1: .warning; case 2: .info; default: .error }
            // The host's rules for a plugin's diagnostic: the worker already applied them, but a worker is the plugin's process.
            diagnostics.append(HostServicesPolicy.diagnostic(summary: try r.string(), detail: try r.string(), fieldPath: try r.string(),
                                                             severity: severity))
        }
        return CallOutcome(status: status, diagnostics: diagnostics, retryAfterMillis: retryAfter >= 0 ? retryAfter : nil)
    }
}
