import Foundation
import Logging
import SwitchboardABI
import SwitchboardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one `sb_host_api` table of this process, handed to every plugin's init.
/// Immutable after construction; each function finds its instance through the call.
enum HostAPI {
    nonisolated(unsafe) static let table: UnsafePointer<sb_host_api> = {
        let table = UnsafeMutablePointer<sb_host_api>.allocate(capacity: 1)
        table.initialize(to: sb_host_api(
            struct_size: UInt32(MemoryLayout<sb_host_api>.size),
            abi_major: UInt16(SB_ABI_MAJOR), abi_minor: UInt16(SB_ABI_MINOR),
            log: { call, level, message, fields in HostAPI.log(call, level, message, fields) },
            metric: { call, kind, name, value, labels in HostAPI.metric(call, kind, name, value, labels) },
            emit: { call, item in
                guard let context = CallContext.from(call, "emit") else { return SB_CANCELLED }
                guard let item else { return SB_FATAL }
                // Fast path: an item of exactly the v1 size needs no tail check.
                if item.pointee.struct_size == UInt32(MemoryLayout<sb_emit>.size) {
                    return context.emit(CallHandles.generation(of: call), item.pointee.kind, key: item.pointee.key, data: item.pointee.data)
                }
                switch StructCopy.read(UnsafeRawPointer(item), as: sb_emit.self, declaredSize: Int(item.pointee.struct_size)) {
                case .ok(let copy): return context.emit(CallHandles.generation(of: call), copy.kind, key: copy.key, data: copy.data)
                case .unknownTail(let offset):
                    context.report(Diagnostic("sb_emit sets unknown fields (non-zero byte at offset \(offset))", fieldPath: "emit"))
                    return SB_FATAL
                case .tooSmall(let size):
                    context.report(Diagnostic("sb_emit.struct_size \(size) is too small", fieldPath: "emit.struct_size"))
                    return SB_FATAL
                case .tooLarge(let size):
                    context.report(Diagnostic("sb_emit.struct_size \(size) is larger than any ABI 1 sb_emit", fieldPath: "emit.struct_size"))
                    return SB_FATAL
                }
            },
            diag: { call, item in HostAPI.diag(call, item) },
            secret_get: { call, name, out in HostAPI.secret(call, name, out) },
            http: { call, request, out in HostAPI.http(call, request, out) },
            state_get: { call, key, out in HostAPI.stateGet(call, key, out) },
            state_put: { call, key, value in HostAPI.statePut(call, key, value) },
            buf_release: { call, buffer in
                guard let buffer else { return }
                CallContext.from(call, "buf_release")?.release(&buffer.pointee)
            },
            clock_unix_ns: { _ in Clock.unixNanoseconds() },
            clock_monotonic_ns: { _ in Clock.monotonicNanoseconds() },
            cancelled: { call in CallContext.quietly(call)?.isCancelled ?? true },
            deadline_ns: { call in CallContext.quietly(call)?.deadline ?? 0 }
        ))
        return UnsafePointer(table)
    }()

    static func string(_ s: sb_str) -> String {
        guard let ptr = s.ptr, s.len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: s.len), as: UTF8.self)
    }

    /// At most `limit` bytes of a plugin's string, marked when cut (DiagnosticLimits).
    static func bounded(_ s: sb_str, _ limit: Int) -> String {
        guard let ptr = s.ptr, s.len > 0 else { return "" }
        return DiagnosticLimits.text(UnsafeRawBufferPointer(start: ptr, count: s.len), limit: limit)
    }

    static func bytes(_ b: sb_bytes) -> [UInt8] {
        guard let ptr = b.ptr, b.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: b.len))
    }

    private static func log(_ call: OpaquePointer?, _ level: Int32, _ message: sb_str, _ fields: sb_str) {
        guard let context = CallContext.from(call, "log") else { return }
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        let extra = bounded(fields, DiagnosticLimits.detailBytes)
        context.policy.log(level: levels[Int(min(max(level, 0), 6))], message: bounded(message, DiagnosticLimits.detailBytes),
                           fields: extra.isEmpty ? [] : [("fields", extra)], labels: context.labels)
    }

    private static func metric(_ call: OpaquePointer?, _ kind: Int32, _ name: sb_str, _ value: Double, _ labels: sb_str) {
        guard let context = CallContext.from(call, "metric"), let metricKind = PluginMetricKind(rawValue: kind) else { return }
        context.policy.metric(metricKind, name: string(name), value: value, labels: string(labels))
    }

    private static func diag(_ call: OpaquePointer?, _ item: UnsafePointer<sb_diag>?) {
        guard let context = CallContext.from(call, "diag"), let item else { return }
        let copy: sb_diag
        switch StructCopy.read(UnsafeRawPointer(item), as: sb_diag.self, declaredSize: Int(item.pointee.struct_size)) {
        case .ok(let value): copy = value
        case .unknownTail, .tooSmall, .tooLarge:
            context.report(Diagnostic("malformed sb_diag (struct_size \(item.pointee.struct_size))"))
            return
        }
        let severity: Diagnostic.Severity = switch copy.severity {
        case SB_SEVERITY_WARNING: .warning
        case SB_SEVERITY_INFO: .info
        default: .error
        }
        // Cut here before copying (a plugin's 50 MB summary is not copied whole), then the policy's bounds and scrubbing.
        context.report(HostServicesPolicy.diagnostic(summary: bounded(copy.summary, DiagnosticLimits.summaryBytes),
                                                     detail: bounded(copy.detail, DiagnosticLimits.detailBytes),
                                                     fieldPath: bounded(copy.field_path, DiagnosticLimits.fieldPathBytes), severity: severity))
    }

    private static func secret(_ call: OpaquePointer?, _ name: sb_str, _ out: UnsafeMutablePointer<sb_host_buf>?) -> Int32 {
        guard let context = CallContext.from(call, "secret_get"), let out else { return SB_FATAL }
        out.pointee = sb_host_buf()
        switch context.policy.secret(string(name)) {
        case .success(let value):
            out.pointee = context.hostBuffer(value)
            return SB_OK
        case .failure(let refusal):
            context.report(refusal.diagnostic)
            return refusal.status.rawValue
        }
    }

    private static func http(_ call: OpaquePointer?, _ request: UnsafePointer<sb_http_request>?,
                             _ out: UnsafeMutablePointer<sb_http_response>?) -> Int32 {
        guard let context = CallContext.from(call, "http"), let request, let out else { return SB_FATAL }
        guard case .ok(let r) = StructCopy.read(UnsafeRawPointer(request), as: sb_http_request.self,
                                                declaredSize: Int(request.pointee.struct_size)) else {
            context.report(Diagnostic("malformed sb_http_request", fieldPath: "request"))
            return SB_FATAL
        }
        var headers: [(name: String, value: String)] = []
        if let list = r.headers {
            for i in 0..<Int(r.header_count) { headers.append((string(list[i].name), string(list[i].value))) }
        }
        let result = context.policy.http(EgressRequest(method: string(r.method), url: string(r.url), headers: headers,
                                                       body: bytes(r.body), timeoutMilliseconds: Int(r.timeout_ms),
                                                       injectAuth: r.flags & UInt32(SB_HTTP_NO_AUTH) == 0))
        switch result {
        case .success(let answer):
            // A 429/503's Retry-After tells the retry queue how long to wait, whatever the plugin does with it.
            if let millis = answer.retryAfterMillis { context.noteRetryAfter(millis) }
            // Write only the fields the plugin's struct has room for.
            out.pointee.status = Int32(answer.status)
            if Int(out.pointee.struct_size) >= MemoryLayout<sb_http_response>.size {
                out.pointee.headers = context.hostBuffer(Array(answer.headers.map { "\($0.name): \($0.value)\r\n" }.joined().utf8))
                out.pointee.body = context.hostBuffer(answer.body)
            }
            return SB_OK
        case .failure(let refusal):
            context.report(refusal.diagnostic)
            return refusal.status.rawValue
        }
    }

    private static func stateGet(_ call: OpaquePointer?, _ key: sb_str, _ out: UnsafeMutablePointer<sb_host_buf>?) -> Int32 {
        guard let context = CallContext.from(call, "state_get"), let out else { return SB_FATAL }
        out.pointee = sb_host_buf()
        switch context.policy.state(string(key)) {
        case .success(let value):
            if let value { out.pointee = context.hostBuffer(value) }
            return SB_OK
        case .failure(let refusal):
            context.report(refusal.diagnostic)
            return refusal.status.rawValue
        }
    }

    private static func statePut(_ call: OpaquePointer?, _ key: sb_str, _ value: sb_bytes) -> Int32 {
        guard let context = CallContext.from(call, "state_put") else { return SB_FATAL }
        switch context.policy.setState(string(key), bytes(value)) {
        case .success: return SB_OK
        case .failure(let refusal):
            context.report(refusal.diagnostic)
            return refusal.status.rawValue
        }
    }
}
