import SwitchboardABI

/// The host's services for the operation in progress. Valid only during the
/// plugin call that received it: do not store it.
public struct HostCall {
    let call: OpaquePointer?
    let api: UnsafePointer<sb_host_api>

    /// Log levels, lowest first.
    public enum LogLevel: Int32 { case trace = 0, debug, info, notice, warning, error, critical }

    public func log(_ level: LogLevel, _ message: String, fieldsJSON: String = "") {
        withStr(message) { m in withStr(fieldsJSON) { f in api.pointee.log(call, level.rawValue, m, f) } }
    }

    /// Adds to a counter labelled with the plugin and connection.
    public func count(_ name: String, by value: Double = 1) {
        withStr(name) { n in withStr("") { l in api.pointee.metric(call, SB_METRIC_COUNTER, n, value, l) } }
    }

    /// Hands one output item to the host; throws when the host says stop.
    public func emit(kind: Int32, key: String, data: [UInt8]) throws {
        let status = withStr(key) { k in
            withBytes(data) { d in
                var item = sb_emit(struct_size: UInt32(MemoryLayout<sb_emit>.size), kind: UInt32(kind), key: k, data: d)
                return api.pointee.emit(call, &item)
            }
        }
        if status == SB_CANCELLED { throw PluginError.cancelled }
        if status != SB_OK { throw PluginError(.fatal, "the host refused an emitted item") }
    }

    /// A canonical record read from the source (`entity` e.g. "Account").
    public func emitRecord(entity: String, json: [UInt8]) throws { try emit(kind: SB_EMIT_RECORD, key: entity, data: json) }
    /// The cursor covering every record emitted before it.
    public func emitState(stream: String, state: [UInt8]) throws { try emit(kind: SB_EMIT_STATE, key: stream, data: state) }
    /// A canonical business event (e.g. "opportunity.won").
    public func emitEvent(type: String, json: [UInt8]) throws { try emit(kind: SB_EMIT_EVENT, key: type, data: json) }
    /// A workflow command.
    public func emitCommand(json: [UInt8]) throws { try emit(kind: SB_EMIT_COMMAND, key: "", data: json) }

    /// Reports a diagnostic for this call (errors thrown as `PluginError` are reported for you).
    public func report(_ diagnostic: PluginDiagnostic) {
        withStr(diagnostic.summary) { s in
            withStr(diagnostic.detail) { d in
                withStr(diagnostic.fieldPath) { f in
                    var item = sb_diag(struct_size: UInt32(MemoryLayout<sb_diag>.size),
                                       severity: diagnostic.severity.rawValue, summary: s, detail: d, field_path: f)
                    api.pointee.diag(call, &item)
                }
            }
        }
    }

    /// True once the host wants this call to stop: poll it in long loops.
    public var isCancelled: Bool { api.pointee.cancelled(call) }

    /// Wall-clock time in nanoseconds since the Unix epoch.
    public var unixNanoseconds: Int64 { api.pointee.clock_unix_ns(call) }

    /// Reads this connection's private durable key/value state.
    public func state(_ key: String) throws -> [UInt8]? {
        var buf = sb_host_buf()
        let status = withStr(key) { k in api.pointee.state_get(call, k, &buf) }
        defer { api.pointee.buf_release(call, &buf) }
        guard status == SB_OK else { throw PluginError(PluginStatus(rawValue: status) ?? .fatal, "state_get failed") }
        guard let ptr = buf.ptr else { return nil }
        return Array(UnsafeBufferPointer(start: ptr, count: buf.len))
    }

    /// Writes this connection's private durable key/value state.
    public func setState(_ key: String, _ value: [UInt8]) throws {
        let status = withStr(key) { k in withBytes(value) { v in api.pointee.state_put(call, k, v) } }
        guard status == SB_OK else { throw PluginError(PluginStatus(rawValue: status) ?? .fatal, "state_put failed") }
    }

    /// A secret of this connection by the name the config maps (`secrets: {NAME: vault:...}`).
    /// Only for plugins that declare `.rawSecrets` on a connection with `allow_raw_secrets: true`;
    /// otherwise throws `.auth`. Never log it or put it in a diagnostic.
    public func secret(_ name: String) throws -> [UInt8] {
        var buf = sb_host_buf()
        let status = withStr(name) { n in api.pointee.secret_get(call, n, &buf) }
        defer { api.pointee.buf_release(call, &buf) }
        guard status == SB_OK else {
            throw PluginError(PluginStatus(rawValue: status) ?? .fatal, "secret \(name) is not available to this plugin")
        }
        guard let ptr = buf.ptr else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: buf.len))
    }

    /// A response received through host egress.
    public struct HTTPResponse: Sendable {
        public var status: Int
        public var headers: String
        public var body: [UInt8]
    }

    /// Sends a request through the host: allowlist, TLS, timeouts, rate
    /// limits, and the connection's credentials injected (unless `withAuth` is false).
    public func http(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [],
                     timeoutMilliseconds: UInt32 = 0, withAuth: Bool = true) throws -> HTTPResponse {
        var response = sb_http_response()
        response.struct_size = UInt32(MemoryLayout<sb_http_response>.size)
        let owned = headers.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        let status: Int32 = withStr(method) { m in
            withStr(url) { u in
                withBytes(body) { b in
                    withHeaderArray(owned) { list in
                        var request = sb_http_request(
                            struct_size: UInt32(MemoryLayout<sb_http_request>.size), header_count: UInt32(list.count),
                            method: m, url: u, headers: list.baseAddress, body: b,
                            timeout_ms: timeoutMilliseconds, flags: withAuth ? 0 : UInt32(SB_HTTP_NO_AUTH))
                        return api.pointee.http(call, &request, &response)
                    }
                }
            }
        }
        defer {
            api.pointee.buf_release(call, &response.headers)
            api.pointee.buf_release(call, &response.body)
        }
        guard status == SB_OK else {
            throw PluginError(PluginStatus(rawValue: status) ?? .fatal, "HTTP \(method) \(url) failed in the host")
        }
        func copy(_ b: sb_host_buf) -> [UInt8] { b.ptr.map { Array(UnsafeBufferPointer(start: $0, count: b.len)) } ?? [] }
        return HTTPResponse(status: Int(response.status), headers: String(decoding: copy(response.headers), as: UTF8.self),
                            body: copy(response.body))
    }
}

/// Lays the headers out in one allocation that lives for the duration of `body`.
private func withHeaderArray<R>(_ headers: [([UInt8], [UInt8])], _ body: (UnsafeBufferPointer<sb_http_header>) -> R) -> R {
    let total = headers.reduce(0) { $0 + $1.0.count + $1.1.count }
    let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
    let list = UnsafeMutablePointer<sb_http_header>.allocate(capacity: max(headers.count, 1))
    defer {
        storage.deallocate()
        list.deallocate()
    }
    var offset = 0
    func place(_ bytes: [UInt8]) -> sb_str {
        let start = storage + offset
        bytes.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { start.update(from: base, count: src.count) }
        }
        offset += bytes.count
        return sb_str(ptr: UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), len: bytes.count)
    }
    for (index, (name, value)) in headers.enumerated() {
        (list + index).initialize(to: sb_http_header(name: place(name), value: place(value)))
    }
    return body(UnsafeBufferPointer(start: list, count: headers.count))
}
