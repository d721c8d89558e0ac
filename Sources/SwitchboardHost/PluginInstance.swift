import SwitchboardABI
import SwitchboardCore
import Synchronization

/// One open instance of a plugin (one configured connection). Calls on it are
/// serialised here, as the ABI promises the plugin; different instances run
/// concurrently.
public final class PluginInstance: PluginHandle, @unchecked Sendable {
    public let library: PluginLibrary
    private let handle: OpaquePointer
    private let context: CallContext
    private let serial = Mutex<Bool>(false)  // true once closed

    init(library: PluginLibrary, handle: OpaquePointer, context: CallContext) {
        self.library = library
        self.handle = handle
        self.context = context
    }

    deinit {
        close()
        context.retire()   // while this instance still holds it: see CallContext.retire
    }

    public var info: PluginInfo { library.info }

    /// Host-function uses of a call after it returned, refused (a plugin thread emitting on an old call).
    public var callsRefusedAfterReturn: Int { context.refusedAfterReturn.load(ordering: .relaxed) }

    /// Runs one operation on the instance. `deadline` is a monotonic time in ns (0 = none).
    @inline(__always)
    private func perform(_ operation: StaticString, allowed: UInt32, deadline: Int64 = 0, labels: [String: String] = [:], sink: EmitSink?,
                         _ body: (OpaquePointer, OpaquePointer) -> Int32?) -> CallOutcome {
        serial.withLock { closed in
            if closed { return CallOutcome(status: .fatal, diagnostics: [Diagnostic("instance is closed")]) }
            context.begin(operation, allowed: allowed, deadline: deadline, labels: labels, sink: sink)
            defer { context.end() }
            guard let raw = body(handle, context.pointer) else {
                return CallOutcome(status: .fatal, diagnostics: [Diagnostic("\(pluginID) does not implement \(operation)")])
            }
            return CallOutcome(status: context.finishedStatus(raw), diagnostics: context.finishedDiagnostics,
                               retryAfterMillis: context.finishedRetryAfter)
        }
    }

    /// Asks an operation in progress on this instance to stop (thread-safe).
    public func cancel() { context.cancelFlag.store(true, ordering: .relaxed) }

    public func checkConnection(deadline: Int64 = 0, labels: [String: String] = [:]) -> CallOutcome {
        perform("check_connection", allowed: PluginOperation.checkConnection.acceptedEmits, deadline: deadline, labels: labels, sink: nil) { h, c in
            library.vtable.check_connection?(h, c)
        }
    }

    /// The catalog JSON the connector reports.
    public func discover() -> (CallOutcome, String?) {
        var catalog: String?
        let outcome = perform("discover", allowed: PluginOperation.discover.acceptedEmits, sink: { item in
            catalog = String(decoding: item.data, as: UTF8.self)
            return .ok
        }) { h, c in library.vtable.discover?(h, c) }
        return (outcome, catalog)
    }

    /// Reads a stream from `state`; `sink` receives records, events and states in order.
    public func read(stream: String, state: [UInt8], maxRecords: Int = 0, deadline: Int64 = 0, labels: [String: String] = [:],
                     sink: @escaping EmitSink) -> CallOutcome {
        perform("read", allowed: PluginOperation.read.acceptedEmits, deadline: deadline, labels: labels, sink: sink) { h, c in
            guard let read = library.vtable.read else { return nil }
            return withSBStr(stream) { s in
                state.withUnsafeBufferPointer { st in
                    var request = sb_read_request(struct_size: UInt32(MemoryLayout<sb_read_request>.size),
                                                  max_records: UInt32(clamping: maxRecords), stream: s,
                                                  state: sb_bytes(ptr: st.baseAddress, len: st.count))
                    return read(h, c, &request)
                }
            }
        }
    }

    /// Upserts one record; returns the outcome and the external id the plugin reported.
    /// `onResult` runs while the call still holds the instance, so whatever it records is in place
    /// before any other call on this instance (say, a read that would show the new record) can start.
    public func write(entity: String, idempotencyKey: String, externalID: String = "", record: [UInt8],
                      deadline: Int64 = 0, labels: [String: String] = [:], onResult: ((String) -> Void)? = nil) -> (CallOutcome, String?) {
        var resultID: String?
        let outcome = perform("write", allowed: PluginOperation.write.acceptedEmits, deadline: deadline, labels: labels, sink: { item in
            resultID = item.keyString
            onResult?(item.keyString)
            return .ok
        }) { h, c in
            guard let write = library.vtable.write else { return nil }
            return withSBStr(entity) { e in
                withSBStr(idempotencyKey) { k in
                    withSBStr(externalID) { x in
                        record.withUnsafeBufferPointer { r in
                            var request = sb_write_request(struct_size: UInt32(MemoryLayout<sb_write_request>.size), reserved0: 0,
                                                           entity: e, idempotency_key: k, external_id: x,
                                                           record: sb_bytes(ptr: r.baseAddress, len: r.count))
                            return write(h, c, &request)
                        }
                    }
                }
            }
        }
        if outcome.isOK && resultID == nil {
            return (CallOutcome(status: .fatal, diagnostics: [Diagnostic("write returned OK without SB_EMIT_WRITE_RESULT")]), nil)
        }
        return (outcome, resultID)
    }

    /// Hands an inbound webhook to the connector; `sink` receives the events.
    public func handleWebhook(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8],
                              deadline: Int64 = 0, sink: @escaping EmitSink) -> CallOutcome {
        perform("handle_webhook", allowed: PluginOperation.handleWebhook.acceptedEmits, deadline: deadline, sink: sink) { h, c in
            guard let handle = library.vtable.handle_webhook else { return nil }
            return HeaderList.with(headers) { list in
                withSBStr(method) { m in
                    withSBStr(url) { u in
                        body.withUnsafeBufferPointer { b in
                            var request = sb_http_request(struct_size: UInt32(MemoryLayout<sb_http_request>.size),
                                                          header_count: UInt32(list.count), method: m, url: u,
                                                          headers: list.baseAddress, body: sb_bytes(ptr: b.baseAddress, len: b.count),
                                                          timeout_ms: 0, flags: 0)
                            return handle(h, c, &request)
                        }
                    }
                }
            }
        }
    }

    /// Reads one record as the source holds it now; `sink` receives the event of `eventType` or the record.
    public func fetch(entity: String, externalID: String, eventType: String, deadline: Int64 = 0, labels: [String: String] = [:],
                      sink: @escaping EmitSink) -> CallOutcome {
        perform("fetch", allowed: PluginOperation.fetch.acceptedEmits, deadline: deadline, labels: labels, sink: sink) { h, c in
            guard library.negotiatedMinor >= 1, let fetch = library.vtable.fetch else { return nil }
            return withSBStr(entity) { e in
                withSBStr(externalID) { x in
                    withSBStr(eventType) { t in
                        var request = sb_fetch_request(struct_size: UInt32(MemoryLayout<sb_fetch_request>.size), reserved0: 0,
                                                       entity: e, external_id: x, event_type: t)
                        return fetch(h, c, &request)
                    }
                }
            }
        }
    }

    /// Hands one canonical event to a workflow plugin; `sink` receives its commands.
    public func onEvent(type: String, event: UnsafeRawBufferPointer, deadline: Int64 = 0, labels: [String: String] = [:],
                        sink: EmitSink?) -> CallOutcome {
        perform("on_event", allowed: PluginOperation.onEvent.acceptedEmits, deadline: deadline, labels: labels, sink: sink) { h, c in
            guard let onEvent = library.vtable.on_event else { return nil }
            return withSBStr(type) { t in
                onEvent(h, c, t, sb_bytes(ptr: event.baseAddress?.assumingMemoryBound(to: UInt8.self), len: event.count))
            }
        }
    }

    /// Closes the instance (idempotent). The plugin frees what it owns.
    public func close() {
        serial.withLock { closed in
            guard !closed else { return }
            closed = true
            context.begin("close", allowed: 0, sink: nil)
            library.vtable.close?(handle, context.pointer)
            context.end()
        }
    }
}

@inline(__always)
func withSBStr<R>(_ string: String, _ body: (sb_str) -> R) -> R {
    var copy = string
    return copy.withUTF8 { utf8 in
        body(sb_str(ptr: utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, len: utf8.count))
    }
}

/// Lays out headers as `sb_http_header`s in one allocation for the duration of a call.
enum HeaderList {
    static func with<R>(_ headers: [(name: String, value: String)], _ body: (UnsafeBufferPointer<sb_http_header>) -> R) -> R {
        let bytes = headers.map { (Array($0.name.utf8), Array($0.value.utf8)) }
        let total = bytes.reduce(0) { $0 + $1.0.count + $1.1.count }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        let list = UnsafeMutablePointer<sb_http_header>.allocate(capacity: max(headers.count, 1))
        defer {
            storage.deallocate()
            list.deallocate()
        }
        var offset = 0
        func place(_ b: [UInt8]) -> sb_str {
            let start = storage + offset
            b.withUnsafeBufferPointer { if let base = $0.baseAddress { start.update(from: base, count: $0.count) } }
            offset += b.count
            return sb_str(ptr: UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), len: b.count)
        }
        for (index, pair) in bytes.enumerated() {
            (list + index).initialize(to: sb_http_header(name: place(pair.0), value: place(pair.1)))
        }
        return body(UnsafeBufferPointer(start: list, count: headers.count))
    }
}
