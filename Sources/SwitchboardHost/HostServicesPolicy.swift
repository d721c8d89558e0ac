import Logging
import SwitchboardCore

/// The rules of every host service a plugin may ask for — secrets, state, HTTP egress, logs,
/// metrics, emitted items — written once, whatever carries the request: the C ABI of a plugin in
/// this process (`HostAPI`), or the frame protocol of a sandbox worker (the host's side of it).
/// A worker runs its own copy of `HostAPI` too, but that copy runs in the plugin's process and
/// proves nothing: only the host's side counts, so both sides call this one policy.
public struct HostServicesPolicy: Sendable {
    /// The services of one instance, already scoped to its tenant and connection.
    public let services: InstanceServices
    public let pluginID: String

    public init(services: InstanceServices, pluginID: String) {
        self.services = services
        self.pluginID = pluginID
    }

    /// A request the host refused, with the status the plugin gets and why.
    public struct Refusal: Error, Sendable {
        public var status: OperationStatus
        public var diagnostic: Diagnostic
    }

    // MARK: secrets

    /// The raw value of one of the connection's secrets: only for a plugin that declared
    /// SB_CAP_RAW_SECRETS on a connection whose operator allowed it (`rawSecretsAllowed` holds both).
    public func secret(_ reference: String) -> Result<[UInt8], Refusal> {
        guard services.rawSecretsAllowed else {
            return .failure(Refusal(status: .auth, diagnostic: Diagnostic(
                "plugin \(pluginID) may not read raw secrets",
                detail: "declare SB_CAP_RAW_SECRETS and have the operator allow it, or let host egress inject credentials",
                fieldPath: "secrets.\(reference)")))
        }
        do {
            guard let value = try services.secrets?.secret(named: reference) else {
                return .failure(Refusal(status: .config, diagnostic: Diagnostic("no secret \"\(reference)\" for this connection",
                                                                                fieldPath: "secrets.\(reference)")))
            }
            return .success(value)
        } catch {
            // The resolver's error names the reference at most, never a value.
            return .failure(Refusal(status: .retry, diagnostic: Diagnostic("secret \"\(reference)\" could not be read", detail: "\(error)")))
        }
    }

    // MARK: state

    /// The connection's value under `key`, nil when none was stored.
    public func state(_ key: String) -> Result<[UInt8]?, Refusal> {
        do { return .success(try services.state.value(forKey: key)) } catch {
            return .failure(Refusal(status: .retry, diagnostic: Diagnostic("state \"\(key)\" could not be read", detail: "\(error)")))
        }
    }

    public func setState(_ key: String, _ value: [UInt8]) -> Result<Void, Refusal> {
        do { return .success(try services.state.setValue(value, forKey: key)) } catch {
            return .failure(Refusal(status: .retry, diagnostic: Diagnostic("state \"\(key)\" could not be written", detail: "\(error)")))
        }
    }

    // MARK: egress

    /// An HTTP answer from egress, and the delay a 429/503 with `Retry-After` asks the retry queue for.
    public struct HTTPAnswer: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var retryAfterMillis: Int64?
    }

    /// Sends through the connection's egress (allowlist, injected credentials, limits); none configured is CONFIG.
    public func http(_ request: EgressRequest) -> Result<HTTPAnswer, Refusal> {
        guard let egress = services.egress else {
            return .failure(Refusal(status: .config, diagnostic: Diagnostic(
                "no HTTP egress is configured for connection \(services.connection)", fieldPath: "egress")))
        }
        switch egress.send(request) {
        case .response(let status, let headers, let body):
            var retryAfter: Int64?
            if status == 429 || status == 503,
               let value = headers.first(where: { $0.name.lowercased() == "retry-after" })?.value,
               let seconds = Int64(value.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds < Int64.max / 1000 {
                retryAfter = seconds * 1000
            }
            return .success(HTTPAnswer(status: status, headers: headers, body: body, retryAfterMillis: retryAfter))
        case .failed(let status, let diagnostic):
            return .failure(Refusal(status: status, diagnostic: diagnostic))
        }
    }

    // MARK: logs, metrics, diagnostics

    /// Logs a plugin's line: bounded, scrubbed, and labelled by the host. The host's own labels
    /// (plugin, tenant, connection) win over anything the plugin claims; `origin` marks a worker's line.
    public func log(level: Logger.Level, message: String, fields: [(String, String)], labels: [String: String], origin: String? = nil) {
        var metadata: Logger.Metadata = [:]
        for (key, value) in labels { metadata[key] = .string(value) }
        for (key, value) in fields {
            metadata[String(key.prefix(128))] = .string(Redactor.redact(DiagnosticLimits.text(value, limit: DiagnosticLimits.detailBytes)))
        }
        metadata["plugin"] = .string(pluginID)
        metadata["tenant"] = .string(services.tenant)
        metadata["connection"] = .string(services.connection)
        if let origin { metadata["sandbox"] = .string(origin) }
        services.logger.log(level: level, "\(Redactor.redact(DiagnosticLimits.text(message, limit: DiagnosticLimits.detailBytes)))",
                            metadata: metadata)
    }

    /// Records a plugin's metric under the host's labels.
    public func metric(_ kind: PluginMetricKind, name: String, value: Double, labels: String) {
        services.metrics?.record(kind: kind, name: name, value: value,
                                 labels: ["plugin": pluginID, "connection": services.connection, "labels": labels])
    }

    /// A plugin's diagnostic as the host keeps it, wherever it came from (the C ABI's `diag`, a worker's
    /// RESULT frame): bounded, then scrubbed on arrival, so it never carries a secret further, nor 50 MB.
    /// The bounds leave room for a truncation mark, so a text a first bound already cut is not cut again.
    public static func diagnostic(summary: String, detail: String, fieldPath: String, severity: Diagnostic.Severity) -> Diagnostic {
        let mark = 64
        return Diagnostic(Redactor.redact(DiagnosticLimits.text(summary, limit: DiagnosticLimits.summaryBytes + mark)),
                          detail: Redactor.redact(DiagnosticLimits.text(detail, limit: DiagnosticLimits.detailBytes + mark)),
                          fieldPath: DiagnosticLimits.text(fieldPath, limit: DiagnosticLimits.fieldPathBytes + mark), severity: severity)
    }

    // MARK: emitted items

    /// The largest item (key + data) a plugin may emit: output past it is a plugin bug, not data.
    public static let maxItemBytes = 16 << 20

    /// Why an item of these lengths is refused (over the cap), or nil. Each length is checked alone
    /// first: a plugin's SIZE_MAX would wrap a sum.
    public static func oversizeEmit(keyBytes: UInt, dataBytes: UInt) -> Refusal? {
        let cap = UInt(maxItemBytes)
        guard keyBytes > cap || dataBytes > cap || keyBytes + dataBytes > cap else { return nil }
        let size = keyBytes.addingReportingOverflow(dataBytes)
        return Refusal(status: .fatal, diagnostic: Diagnostic(
            "emitted item of \(size.overflow ? "more than \(UInt.max)" : "\(size.partialValue)") bytes exceeds the \(maxItemBytes >> 20) MiB limit",
            fieldPath: "emit.data"))
    }

    /// Why an item of this kind is refused (unknown, or not one its operation takes), or nil.
    @inline(__always)
    public static func unacceptedEmit(kind raw: UInt32, accepted: UInt32, operation: @autoclosure () -> String) -> Refusal? {
        if let kind = EmitKind(rawValue: raw), accepted & kind.bit != 0 { return nil }
        return Refusal(status: .fatal, diagnostic: Diagnostic("emit kind \(raw) is not accepted by \(operation())", fieldPath: "emit.kind"))
    }
}

extension HostServicesPolicy {
    /// An item arriving from a sandbox worker: the same rules, and never SB_EMIT_RETRY_AFTER (the worker's
    /// side consumes those and sends the delay with the call's result). A refusal here means the worker
    /// bypassed its own checks: the plugin wrote frames itself.
    public static func workerEmitRefusal(kind: EmitKind, keyBytes: Int, dataBytes: Int, operation: PluginOperation) -> Refusal? {
        if let refusal = oversizeEmit(keyBytes: UInt(keyBytes), dataBytes: UInt(dataBytes)) { return refusal }
        let accepted = operation.acceptedEmits & ~EmitKind.retryAfter.bit
        return unacceptedEmit(kind: kind.rawValue, accepted: accepted, operation: operation.rawValue)
    }
}

/// The operations of the plugin contract (docs/ABI.md), each with the emit kinds it accepts.
public enum PluginOperation: String, Sendable, CaseIterable {
    case spec, validateConfig = "validate_config", open, checkConnection = "check_connection", discover, read, write,
         handleWebhook = "handle_webhook", onEvent = "on_event", fetch, close

    /// The `EmitKind` bits the operation takes (SB_EMIT_RETRY_AFTER always).
    public var acceptedEmits: UInt32 {
        switch self {
        case .spec: EmitKind.mask(.spec)
        case .discover: EmitKind.mask(.catalog)
        case .read: EmitKind.mask(.record, .state, .event)
        case .write: EmitKind.mask(.writeResult)
        case .handleWebhook: EmitKind.mask(.event)
        case .fetch: EmitKind.mask(.record, .event)
        case .onEvent: EmitKind.mask(.command)
        case .validateConfig, .open, .checkConnection, .close: EmitKind.mask()
        }
    }
}
