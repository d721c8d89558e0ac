import SwitchboardABI
import SwitchboardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an `sb_emit` hands the host, borrowed: copy what you keep.
public struct EmittedItem {
    public var kind: EmitKind
    public var key: UnsafeRawBufferPointer
    public var data: UnsafeRawBufferPointer

    public init(kind: EmitKind, key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) {
        self.kind = kind
        self.key = key
        self.data = data
    }

    public var keyString: String { String(decoding: key, as: UTF8.self) }
    public var dataBytes: [UInt8] { Array(data) }
}

/// The `SB_EMIT_*` kinds.
public enum EmitKind: UInt32, Sendable, CaseIterable {
    case spec = 1, catalog, record, state, writeResult, event, command, retryAfter

    /// A bit for sets of kinds.
    var bit: UInt32 { 1 << rawValue }

    /// A set of kinds as a bit mask (built once per operation type, not per call).
    static func mask(_ kinds: EmitKind...) -> UInt32 { kinds.reduce(EmitKind.retryAfter.bit) { $0 | $1.bit } }
}

/// Receives the items of one operation; return `.cancelled` to ask the plugin to stop.
public typealias EmitSink = (EmittedItem) -> OperationStatus

/// The host side of one `sb_call *`: the sink, diagnostics, host-owned buffers,
/// cancellation and deadline of the operation in progress. One context serves
/// every call of an instance in turn (calls on an instance are serialised);
/// the lock makes host functions safe from any thread the plugin uses.
final class CallContext: @unchecked Sendable {
    let services: InstanceServices
    let pluginID: String
    /// Serialises emits, so a sink never runs twice at once.
    private let emitLock = Lock()
    /// Guards diagnostics and buffers (never held while plugin or sink code runs).
    private let lock = Lock()
    let cancelFlag = Atomic<Bool>(false)

    /// The per-call fields. They live behind a pointer because this is the
    /// ABI's hot path: class properties would pay a dynamic exclusivity
    /// check on every access, and the locks above already give the ordering.
    private struct PerCall {
        var sink: EmitSink?
        var allowedKinds: UInt32 = 0
        var operation: StaticString = ""
        var diagnostics: [Diagnostic] = []
        var buffers: [UInt64: UnsafeMutableRawPointer] = [:]
        var nextBuffer: UInt64 = 1
        var deadline: Int64 = 0
        var retryAfterMillis: Int64?
        /// Context for plugin log lines: workflow, trace (transaction) id, stream.
        var labels: [String: String] = [:]
    }

    private let current: UnsafeMutablePointer<PerCall>

    init(pluginID: String, services: InstanceServices) {
        self.pluginID = pluginID
        self.services = services
        current = .allocate(capacity: 1)
        current.initialize(to: PerCall())
    }

    deinit {
        end()
        current.deinitialize(count: 1)
        current.deallocate()
    }

    /// The labels of the call in progress (read by the log slot, which runs during the call).
    var labels: [String: String] { current.pointee.labels }

    /// The monotonic deadline (ns) of the call in progress; 0 = none.
    var deadline: Int64 { current.pointee.deadline }

    /// The `sb_call *` the plugin sees.
    var pointer: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ call: OpaquePointer?) -> CallContext? {
        guard let call else { return nil }
        return Unmanaged<CallContext>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue()
    }

    /// Prepares for one operation; `allowed` is the mask of emit kinds it takes.
    /// begin/end run while no plugin code runs on this context, so they need no lock.
    @inline(__always)
    func begin(_ operation: StaticString, allowed: UInt32, deadline: Int64 = 0, labels: [String: String] = [:], sink: EmitSink?) {
        if !labels.isEmpty || !current.pointee.labels.isEmpty { current.pointee.labels = labels }
        current.pointee.operation = operation
        current.pointee.allowedKinds = allowed
        current.pointee.sink = sink
        current.pointee.deadline = deadline
        current.pointee.retryAfterMillis = nil
        if !current.pointee.diagnostics.isEmpty { current.pointee.diagnostics.removeAll(keepingCapacity: true) }
        cancelFlag.store(false, ordering: .relaxed)
    }

    /// Ends the operation: frees every host buffer the plugin did not release.
    @inline(__always)
    func end() {
        if !current.pointee.buffers.isEmpty {
            for (_, pointer) in current.pointee.buffers { free(pointer) }
            current.pointee.buffers.removeAll(keepingCapacity: true)
        }
        current.pointee.sink = nil
    }

    /// The diagnostics of the operation that just returned (no plugin code is running).
    var finishedDiagnostics: [Diagnostic] { current.pointee.diagnostics }

    /// Records a Retry-After the host itself saw (a 429/503 from egress) for the runtime's retry queue.
    func noteRetryAfter(_ millis: Int64) {
        lock.withLock { current.pointee.retryAfterMillis = max(current.pointee.retryAfterMillis ?? 0, millis) }
    }

    /// The delay the plugin asked for with SB_EMIT_RETRY_AFTER in the operation that just returned.
    var finishedRetryAfter: Int64? { current.pointee.retryAfterMillis }

    /// The largest item (key + data) a plugin may emit: output past it is a plugin bug, not data.
    static let maxItemBytes = 16 << 20

    func emit(_ kind: UInt32, key: sb_str, data: sb_bytes) -> Int32 {
        emitLock.withLock {
            let size = (key.ptr == nil ? 0 : key.len) + (data.ptr == nil ? 0 : data.len)
            if size > Self.maxItemBytes {
                report(Diagnostic("emitted item of \(size) bytes exceeds the \(Self.maxItemBytes >> 20) MiB limit", fieldPath: "emit.data"))
                return SB_FATAL
            }
            guard let emitKind = EmitKind(rawValue: kind), current.pointee.allowedKinds & emitKind.bit != 0 else {
                report(Diagnostic("emit kind \(kind) is not accepted by \(current.pointee.operation)", fieldPath: "emit.kind"))
                return SB_FATAL
            }
            if emitKind == .retryAfter {
                let text = String(decoding: UnsafeRawBufferPointer(start: data.ptr, count: data.ptr == nil ? 0 : data.len), as: UTF8.self)
                guard let millis = Int64(text), millis >= 0 else {
                    report(Diagnostic("SB_EMIT_RETRY_AFTER data must be decimal milliseconds, got \"\(text.prefix(32))\"", fieldPath: "emit.data"))
                    return SB_FATAL
                }
                current.pointee.retryAfterMillis = millis
                return SB_OK
            }
            guard let sink = current.pointee.sink else { return SB_OK }
            let item = EmittedItem(kind: emitKind, key: UnsafeRawBufferPointer(start: key.ptr, count: key.ptr == nil ? 0 : key.len),
                                   data: UnsafeRawBufferPointer(start: data.ptr, count: data.ptr == nil ? 0 : data.len))
            let status = sink(item)
            if status == .cancelled { cancelFlag.store(true, ordering: .relaxed) }
            return status.rawValue
        }
    }

    func report(_ diagnostic: Diagnostic) {
        lock.withLock { current.pointee.diagnostics.append(diagnostic) }
    }

    /// Copies bytes into a host-owned buffer the plugin may read until it
    /// releases it or the call ends.
    func hostBuffer(_ bytes: [UInt8]) -> sb_host_buf {
        guard !bytes.isEmpty, let memory = malloc(bytes.count) else { return sb_host_buf() }
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return lock.withLock {
            let handle = current.pointee.nextBuffer
            current.pointee.nextBuffer += 1
            current.pointee.buffers[handle] = memory
            return sb_host_buf(ptr: memory.assumingMemoryBound(to: UInt8.self), len: bytes.count, handle: handle)
        }
    }

    func release(_ buffer: inout sb_host_buf) {
        let handle = buffer.handle
        buffer = sb_host_buf()
        guard handle != 0 else { return }
        lock.withLock {
            if let memory = current.pointee.buffers.removeValue(forKey: handle) { free(memory) }
        }
    }

    var isCancelled: Bool {
        if cancelFlag.load(ordering: .relaxed) { return true }
        return deadline != 0 && Clock.monotonicNanoseconds() >= deadline
    }
}
