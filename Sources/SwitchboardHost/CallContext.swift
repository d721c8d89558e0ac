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

    public var keyString: String { String(decoding: key, as: UTF8.self) }
    public var dataBytes: [UInt8] { Array(data) }
}

/// The `SB_EMIT_*` kinds.
public enum EmitKind: UInt32, Sendable, CaseIterable {
    case spec = 1, catalog, record, state, writeResult, event, command

    /// A bit for sets of kinds.
    var bit: UInt32 { 1 << rawValue }
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
    private var sink: EmitSink?
    private var allowedKinds: UInt32 = 0
    private var operation = ""
    private var diagnostics: [Diagnostic] = []
    private var buffers: [UInt64: UnsafeMutableRawPointer] = [:]
    private var nextBuffer: UInt64 = 1
    let cancelFlag = Atomic<Bool>(false)
    var deadline: Int64 = 0

    init(pluginID: String, services: InstanceServices) {
        self.pluginID = pluginID
        self.services = services
    }

    /// The `sb_call *` the plugin sees.
    var pointer: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ call: OpaquePointer?) -> CallContext? {
        guard let call else { return nil }
        return Unmanaged<CallContext>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue()
    }

    /// Prepares for one operation; `allowed` are the emit kinds it takes.
    func begin(_ operation: String, allowed: [EmitKind], deadline: Int64 = 0, sink: EmitSink?) {
        self.operation = operation
        allowedKinds = allowed.reduce(0) { $0 | $1.bit }
        self.sink = sink
        self.deadline = deadline
        lock.withLock { diagnostics.removeAll(keepingCapacity: true) }
        cancelFlag.store(false, ordering: .relaxed)
    }

    /// Ends the operation: frees every host buffer the plugin did not release.
    func end() {
        lock.withLock {
            for (_, pointer) in buffers { free(pointer) }
            buffers.removeAll(keepingCapacity: true)
        }
        sink = nil
    }

    func emit(_ kind: UInt32, key: sb_str, data: sb_bytes) -> Int32 {
        emitLock.withLock {
            guard let emitKind = EmitKind(rawValue: kind), allowedKinds & emitKind.bit != 0 else {
                report(Diagnostic("emit kind \(kind) is not accepted by \(operation)", fieldPath: "emit.kind"))
                return SB_FATAL
            }
            guard let sink else { return SB_OK }
            let item = EmittedItem(kind: emitKind, key: UnsafeRawBufferPointer(start: key.ptr, count: key.ptr == nil ? 0 : key.len),
                                   data: UnsafeRawBufferPointer(start: data.ptr, count: data.ptr == nil ? 0 : data.len))
            let status = sink(item)
            if status == .cancelled { cancelFlag.store(true, ordering: .relaxed) }
            return status.rawValue
        }
    }

    /// The diagnostics reported so far in this operation.
    func collectedDiagnostics() -> [Diagnostic] { lock.withLock { diagnostics } }

    func report(_ diagnostic: Diagnostic) {
        lock.withLock { diagnostics.append(diagnostic) }
    }

    /// Copies bytes into a host-owned buffer the plugin may read until it
    /// releases it or the call ends.
    func hostBuffer(_ bytes: [UInt8]) -> sb_host_buf {
        guard !bytes.isEmpty, let memory = malloc(bytes.count) else { return sb_host_buf() }
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return lock.withLock {
            let handle = nextBuffer
            nextBuffer += 1
            buffers[handle] = memory
            return sb_host_buf(ptr: memory.assumingMemoryBound(to: UInt8.self), len: bytes.count, handle: handle)
        }
    }

    func release(_ buffer: inout sb_host_buf) {
        let handle = buffer.handle
        buffer = sb_host_buf()
        guard handle != 0 else { return }
        lock.withLock {
            if let memory = buffers.removeValue(forKey: handle) { free(memory) }
        }
    }

    var isCancelled: Bool {
        if cancelFlag.load(ordering: .relaxed) { return true }
        return deadline != 0 && Clock.monotonicNanoseconds() >= deadline
    }
}

enum Clock {
    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func unixNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
