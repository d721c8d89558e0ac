import Logging
import SwitchboardCore
import SwitchboardHost

/// Host services as the worker sees them: each one a request to the host,
/// which applies the connection's real policies (docs/SANDBOX.md section 3).
extension WorkerLink {
    /// Sends a REQUEST for `service` and returns the REPLY after its status field.
    /// The status is OK, or `acceptable` (answered as nil), or an error carrying the host's message.
    func ask(_ service: WorkerService, acceptable: OperationStatus? = nil,
             _ arguments: (inout FrameWriter) -> Void) throws -> FrameReader? {
        var frame = FrameWriter(type: .request)
        frame.u8(service.rawValue)
        arguments(&frame)
        guard var reply = request(frame) else { throw WorkerServiceError(message: "no reply") }
        let status = OperationStatus(raw: try reply.i32())
        if status == .ok { return reply }
        if status == acceptable { return nil }
        throw WorkerServiceError(message: try reply.string())
    }
}

struct WorkerSecrets: SecretResolver {
    let link: WorkerLink

    func secret(named name: String) throws -> [UInt8]? {
        guard var reply = try link.ask(.secret, acceptable: .config, { $0.string(name) }) else { return nil }
        return try reply.bytes()
    }
}

struct WorkerState: InstanceStateStore {
    let link: WorkerLink

    func value(forKey key: String) throws -> [UInt8]? {
        guard var reply = try link.ask(.stateGet, { $0.string(key) }) else { return nil }
        return try reply.bool() ? try reply.bytes() : nil
    }

    func setValue(_ value: [UInt8], forKey key: String) throws {
        _ = try link.ask(.statePut) {
            $0.string(key)
            $0.bytes(value)
        }
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
