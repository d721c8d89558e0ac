import Logging
import SwitchboardCore
import SwitchboardHost

/// Host services as the worker sees them: each one a request to the host,
/// which applies the connection's real policies (docs/SANDBOX.md section 3).
struct WorkerSecrets: SecretResolver {
    let link: WorkerLink

    func secret(named name: String) throws -> [UInt8]? {
        var frame = FrameWriter(type: .request)
        frame.u8(WorkerService.secret.rawValue)
        frame.string(name)
        guard var reply = link.request(frame) else { throw WorkerServiceError(message: "no reply") }
        let status = try reply.i32()
        if status == OperationStatus.ok.rawValue { return try reply.bytes() }
        if status == OperationStatus.config.rawValue { return nil }
        throw WorkerServiceError(message: try reply.string())
    }
}

struct WorkerState: InstanceStateStore {
    let link: WorkerLink

    func value(forKey key: String) throws -> [UInt8]? {
        var frame = FrameWriter(type: .request)
        frame.u8(WorkerService.stateGet.rawValue)
        frame.string(key)
        guard var reply = link.request(frame) else { throw WorkerServiceError(message: "no reply") }
        let status = try reply.i32()
        guard status == OperationStatus.ok.rawValue else { throw WorkerServiceError(message: try reply.string()) }
        return try reply.bool() ? try reply.bytes() : nil
    }

    func setValue(_ value: [UInt8], forKey key: String) throws {
        var frame = FrameWriter(type: .request)
        frame.u8(WorkerService.statePut.rawValue)
        frame.string(key)
        frame.bytes(value)
        guard var reply = link.request(frame) else { throw WorkerServiceError(message: "no reply") }
        let status = try reply.i32()
        guard status == OperationStatus.ok.rawValue else { throw WorkerServiceError(message: try reply.string()) }
    }
}

struct WorkerEgress: EgressClient {
    let link: WorkerLink

    func send(_ request: EgressRequest) -> EgressResult {
        var frame = FrameWriter(type: .request)
        frame.u8(WorkerService.http.rawValue)
        frame.string(request.method)
        frame.string(request.url)
        frame.map(request.headers.map { ($0.name, $0.value) })
        frame.bytes(request.body)
        frame.u32(UInt32(clamping: max(request.timeoutMilliseconds, 0)))
        frame.bool(request.injectAuth)
        do {
            guard var reply = link.request(frame) else { throw WorkerServiceError(message: "no reply") }
            let status = OperationStatus(raw: try reply.i32())
            guard status == .ok else {
                return .failed(status, Diagnostic(try reply.string(), fieldPath: try reply.string()))
            }
            let code = Int(try reply.i32())
            let headers = try reply.map().map { (name: $0.0, value: $0.1) }
            return .response(status: code, headers: headers, body: try reply.bytes())
        } catch {
            return .failed(.retry, Diagnostic("egress reply malformed: \(error)"))
        }
    }
}

struct WorkerMetrics: PluginMetricsSink {
    let link: WorkerLink

    func record(kind: PluginMetricKind, name: String, value: Double, labels: [String: String]) {
        var frame = FrameWriter(type: .metric)
        frame.u8(UInt8(kind.rawValue))
        frame.string(name)
        frame.u64(value.bitPattern)
        frame.string(labels["labels"] ?? "")
        link.post(frame)
    }
}

/// Plugin log lines travel to the host, which stamps its own tenant,
/// connection and plugin labels (a worker's claims are not trusted).
struct WorkerLogHandler: LogHandler {
    let link: WorkerLink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var frame = FrameWriter(type: .log)
        frame.u8(UInt8(Logger.Level.allCases.firstIndex(of: event.level) ?? 2))
        frame.string("\(event.message)")
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        frame.map(merged.map { ($0.key, "\($0.value)") })
        link.post(frame)
    }
}

struct WorkerServiceError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
