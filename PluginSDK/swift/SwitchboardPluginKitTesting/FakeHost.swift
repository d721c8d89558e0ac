import SwitchboardFakeHost
import SwitchboardPluginKit

/// A fake Switchboard host for a plugin's unit tests (as HummingbirdTesting is for an app's): runs the
/// plugin's operations in process, with scripted egress, in-memory state and vault, and every emit, log
/// line, diagnostic and request captured. The same fake host serves C tests (`switchboard/fakehost.h`).
///
/// ```swift
/// let host = try FakeHost(plugin: MyConnector.self)            // or FakeHost(library: "./my.so")
/// host.answer("GET", "https://api.example/v1/projects", status: 200, body: #"[{"id":"P-1"}]"#)
/// #expect(host.open(config: #"{"url":"https://api.example/v1"}"#) == .ok)
/// #expect(host.read(stream: "projects") == .ok)
/// #expect(host.records.count == 1)
/// ```
///
/// Each operation is a new call: what the previous one captured is cleared.
public final class FakeHost {
    /// One item the plugin emitted (`SB_EMIT_*` kind, key, data).
    public struct Emitted: Sendable {
        public var kind: UInt32
        public var key: String
        public var data: [UInt8]
        public var text: String { String(decoding: data, as: UTF8.self) }
    }

    /// One request the plugin sent through host egress.
    public struct Request: Sendable {
        public var method: String
        public var url: String
        /// `Name: value` lines as the plugin sent them.
        public var headers: String
        public var body: [UInt8]
        /// Whether the host would add the connection's credentials (the plugin did not ask for no auth).
        public var authInjected: Bool
    }

    private let handle: OpaquePointer

    /// Loads a plugin `.so` as the host would (its manifest, then its init).
    public init(library path: String) throws(PluginError) {
        handle = sbts_new()
        let status = sbts_load(handle, path)
        guard status == 0 else {
            sbts_free(handle)
            throw PluginError(PluginStatus(rawValue: status) ?? .fatal, "cannot load \(path)")
        }
    }

    /// Starts a Swift plugin type linked into the test, through its `PluginExport` init.
    public init(plugin type: any SwitchboardPlugin.Type) throws(PluginError) {
        handle = sbts_new()
        var argsSize = 0, resultSize = 0
        sbts_init_sizes(&argsSize, &resultSize)
        let args = UnsafeMutableRawPointer.allocate(byteCount: argsSize, alignment: 16)
        let result = UnsafeMutableRawPointer.allocate(byteCount: resultSize, alignment: 16)
        defer { args.deallocate(); result.deallocate() }
        sbts_prepare(handle, args, result)
        let status = sbts_adopt(handle, PluginExport.initialize(type, UnsafeRawPointer(args), result), result)
        guard status == 0 else {
            let why = diagnostics.first?.summary ?? "init failed"
            sbts_free(handle)
            throw PluginError(PluginStatus(rawValue: status) ?? .fatal, why)
        }
    }

    deinit { sbts_free(handle) }

    // MARK: the host's side

    /// Answers requests whose method matches and whose URL starts with `urlPrefix` (`times` of them; 0: always).
    public func answer(_ method: String, _ urlPrefix: String, status: Int, body: String = "", times: Int = 0) {
        sbts_answer(handle, method, urlPrefix, Int32(status), body, Int32(times))
    }

    /// Fails matching requests as the host's egress would (`.retry`: a timeout; `.config`: outside the allowlist).
    public func fail(_ method: String, _ urlPrefix: String, with status: PluginStatus, times: Int = 0) {
        sbts_fail(handle, method, urlPrefix, status.rawValue, Int32(times))
    }

    /// A secret the plugin may read (`host.secret`), and whether raw secrets are allowed at all.
    public func setSecret(_ name: String, _ value: String) { sbts_secret_set(handle, name, value) }
    public var rawSecretsAllowed = false { didSet { sbts_raw_secrets(handle, rawSecretsAllowed ? 1 : 0) } }

    /// The connection's key/value state.
    public func setState(_ key: String, _ value: String) { sbts_state_set(handle, key, value) }
    public func state(_ key: String) -> String? { sbts_state_get(handle, key).map { String(cString: $0) } }

    /// Cancels the next calls after `emits` emits, as the host stops a call (emit answers CANCELLED).
    public func cancel(afterEmits emits: Int) { sbts_cancel_after(handle, emits) }
    /// What `deadline_ns` returns (monotonic nanoseconds; 0: none).
    public func setDeadline(monotonicNanoseconds: Int64) { sbts_deadline(handle, monotonicNanoseconds) }

    // MARK: operations

    public func validate(config: String) -> PluginStatus { status(sbts_validate(handle, config)) }
    public func open(config: String) -> PluginStatus { status(sbts_open(handle, config)) }
    public func checkConnection() -> PluginStatus { status(sbts_check(handle)) }
    public func discover() -> PluginStatus { status(sbts_discover(handle)) }
    public func read(stream: String, state: String = "", maxRecords: UInt32 = 100) -> PluginStatus {
        status(sbts_read(handle, stream, state, maxRecords))
    }
    public func write(entity: String, idempotencyKey: String, externalID: String = "", record: String) -> PluginStatus {
        status(sbts_write(handle, entity, idempotencyKey, externalID, record))
    }

    private func status(_ raw: Int32) -> PluginStatus { PluginStatus(rawValue: raw) ?? .fatal }

    // MARK: what the last call captured

    public var emitted: [Emitted] {
        (0..<sbts_emit_count(handle)).map { i in
            var kind: UInt32 = 0
            var key: UnsafePointer<CChar>?
            var data: UnsafePointer<CChar>?
            var length = 0
            sbts_emit(handle, i, &kind, &key, &data, &length)
            let bytes = data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
            return Emitted(kind: kind, key: key.map { String(cString: $0) } ?? "", data: bytes)
        }
    }

    /// Records read: entity and JSON text.
    public var records: [(entity: String, json: String)] { emitted.filter { $0.kind == 3 }.map { ($0.key, $0.text) } }
    /// States emitted: stream and cursor text.
    public var states: [(stream: String, state: String)] { emitted.filter { $0.kind == 4 }.map { ($0.key, $0.text) } }
    /// The external ids writes reported.
    public var writeResults: [String] { emitted.filter { $0.kind == 5 }.map(\.key) }

    public var diagnostics: [PluginDiagnostic] {
        (0..<sbts_diag_count(handle)).map { i in
            var severity: Int32 = 0
            var field: UnsafePointer<CChar>?
            var summary: UnsafePointer<CChar>?
            sbts_diag(handle, i, &severity, &field, &summary)
            return PluginDiagnostic(summary.map { String(cString: $0) } ?? "", fieldPath: field.map { String(cString: $0) } ?? "",
                                    severity: PluginDiagnostic.Severity(rawValue: severity) ?? .error)
        }
    }

    public var logs: [(level: Int32, message: String)] {
        (0..<sbts_log_count(handle)).map { i in
            var level: Int32 = 0
            var message: UnsafePointer<CChar>?
            sbts_log(handle, i, &level, &message)
            return (level, message.map { String(cString: $0) } ?? "")
        }
    }

    public var requests: [Request] {
        (0..<sbts_request_count(handle)).map { i in
            var method: UnsafePointer<CChar>?, url: UnsafePointer<CChar>?, headers: UnsafePointer<CChar>?, body: UnsafePointer<CChar>?
            var length = 0
            var auth: Int32 = 0
            sbts_request(handle, i, &method, &url, &headers, &body, &length, &auth)
            return Request(method: method.map { String(cString: $0) } ?? "", url: url.map { String(cString: $0) } ?? "",
                           headers: headers.map { String(cString: $0) } ?? "",
                           body: body.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? [], authInjected: auth != 0)
        }
    }
}
