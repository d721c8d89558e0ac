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
    /// The rules of the host services this instance's calls use (shared with the sandbox's host side).
    let policy: HostServicesPolicy
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
        /// An item over the size cap was emitted: the operation fails whatever the plugin returns.
        var oversize = false
        /// This context's slot in `CallHandles` (`capacity` when every slot was taken: its handles resolve to nothing).
        var slot = UInt32(CallHandles.capacity)
        /// The generation of the latest call (the low half of its handle).
        var generation: UInt32 = 0
    }

    private let current: UnsafeMutablePointer<PerCall>

    /// The generation of the call in progress; 0 while no call is live.
    private let live = Atomic<UInt32>(0)
    /// The deadline of the call in progress (monotonic ns; 0 none), for the watchdog's thread. (No start
    /// time: a clock read per call would cost the in-process hot path more than the rest of this.)
    private let deadlineAt = Atomic<Int64>(0)
    /// The generation whose overrun the watchdog already reported.
    private let overrunReported = Atomic<UInt32>(0)
    /// Host-function uses of a call that had already returned, refused (ghost emits, stored handles).
    let refusedAfterReturn = Atomic<Int>(0)
    /// The last ended generation a refusal was logged for: one warning per call, not per attempt.
    private let loggedGeneration = Atomic<UInt32>(0)

    init(pluginID: String, services: InstanceServices) {
        self.pluginID = pluginID
        self.services = services
        policy = HostServicesPolicy(services: services, pluginID: pluginID)
        current = .allocate(capacity: 1)
        current.initialize(to: PerCall())
        current.pointee.slot = CallHandles.register(self) ?? UInt32(CallHandles.capacity)
    }

    deinit {
        end()
        retire()
        current.deinitialize(count: 1)
        current.deallocate()
    }

    /// Gives up the context's handle slot: its handles resolve to nothing from now on. The owner calls it while
    /// it still holds the context (a plugin thread resolving a stale handle at that moment then holds a live
    /// context, or none); deinit's call is the fallback. Idempotent; not concurrent with calls on this context.
    func retire() {
        guard current.pointee.slot < UInt32(CallHandles.capacity) else { return }
        CallHandles.unregister(current.pointee.slot)
        current.pointee.slot = UInt32(CallHandles.capacity)
    }

    /// The labels of the call in progress (read by the log slot, which runs during the call).
    var labels: [String: String] { current.pointee.labels }

    /// The monotonic deadline (ns) of the call in progress; 0 = none.
    var deadline: Int64 { current.pointee.deadline }

    /// The `sb_call *` the plugin sees for the call in progress (valid after `begin`).
    var pointer: OpaquePointer { CallHandles.handle(slot: current.pointee.slot, generation: current.pointee.generation) }

    /// The context of a live call, or nil: a handle no context issued, or one whose call has returned
    /// (refused, counted and logged once per call).
    @inline(__always)
    static func from(_ call: OpaquePointer?, _ function: StaticString = "a host function") -> CallContext? {
        guard let (context, generation) = CallHandles.resolve(call) else { return nil }
        guard context.isLive(generation) else {
            context.refuseAfterReturn(generation, function)
            return nil
        }
        return context
    }

    /// A call in progress past its deadline by more than `graceNanos`: reported once per call (the
    /// watchdog's scan). An in-process call cannot be stopped; the host can only say so.
    func overrun(now: Int64, graceNanos: Int64) -> (plugin: String, tenant: String, connection: String, pastDeadlineMillis: Int64)? {
        let generation = live.load(ordering: .acquiring)
        let deadline = deadlineAt.load(ordering: .relaxed)
        guard generation != 0, deadline != 0, now > deadline + graceNanos,
              overrunReported.exchange(generation, ordering: .relaxed) != generation else { return nil }
        return (pluginID, services.tenant, services.connection, (now - deadline) / 1_000_000)
    }

    /// A call running now, and how far past its deadline (nil: none, or not yet past it).
    func running(now: Int64) -> (plugin: String, connection: String, pastDeadlineMillis: Int64?)? {
        guard live.load(ordering: .acquiring) != 0 else { return nil }
        let deadline = deadlineAt.load(ordering: .relaxed)
        return (pluginID, services.connection, deadline != 0 && now > deadline ? (now - deadline) / 1_000_000 : nil)
    }

    /// As `from`, without counting a late use: `cancelled` and `deadline_ns` are what a plugin
    /// thread asks to learn that its call is over (it is then told: cancelled).
    @inline(__always)
    static func quietly(_ call: OpaquePointer?) -> CallContext? {
        guard let (context, generation) = CallHandles.resolve(call), context.isLive(generation) else { return nil }
        return context
    }

    @inline(__always)
    private func isLive(_ generation: UInt32) -> Bool { generation != 0 && live.load(ordering: .acquiring) == generation }

    private func refuseAfterReturn(_ generation: UInt32, _ function: StaticString) {
        refusedAfterReturn.add(1, ordering: .relaxed)
        guard loggedGeneration.exchange(generation, ordering: .relaxed) != generation else { return }
        services.logger.warning("plugin used a call after it returned: refused", metadata: [
            "plugin": .string(pluginID), "tenant": .string(services.tenant), "connection": .string(services.connection),
            "function": .string("\(function)"),
        ])
    }

    /// Prepares for one operation; `allowed` is the mask of emit kinds it takes.
    /// begin/end run while no plugin code runs on this context, so they need no lock.
    @inline(__always)
    func begin(_ operation: StaticString, allowed: UInt32, deadline: Int64 = 0, labels: [String: String] = [:], sink: EmitSink?) {
        current.pointee.generation = current.pointee.generation == UInt32.max ? 1 : current.pointee.generation + 1
        if !labels.isEmpty || !current.pointee.labels.isEmpty { current.pointee.labels = labels }
        current.pointee.operation = operation
        current.pointee.allowedKinds = allowed
        current.pointee.sink = sink
        current.pointee.deadline = deadline
        current.pointee.retryAfterMillis = nil
        current.pointee.oversize = false
        if !current.pointee.diagnostics.isEmpty { current.pointee.diagnostics.removeAll(keepingCapacity: true) }
        cancelFlag.store(false, ordering: .relaxed)
        deadlineAt.store(deadline, ordering: .relaxed)
        live.store(current.pointee.generation, ordering: .releasing)
    }

    /// Ends the operation: frees every host buffer the plugin did not release.
    @inline(__always)
    func end() {
        // Under the emit lock: once end returns no emit of this call is still running, and none starts.
        emitLock.withLock { live.store(0, ordering: .releasing) }
        if !current.pointee.buffers.isEmpty {
            for (_, pointer) in current.pointee.buffers { free(pointer) }
            current.pointee.buffers.removeAll(keepingCapacity: true)
        }
        current.pointee.sink = nil
    }

    /// The status of the operation that just returned: the plugin's, unless it emitted an item over
    /// the cap, which fails the operation (FATAL) even when the plugin ignored the refusal.
    @inline(__always)
    func finishedStatus(_ raw: Int32) -> OperationStatus {
        let status = OperationStatus(raw: raw)
        return current.pointee.oversize && status != .fatal ? .fatal : status
    }

    /// The diagnostics of the operation that just returned (no plugin code is running).
    var finishedDiagnostics: [Diagnostic] { current.pointee.diagnostics }

    /// Records a Retry-After the host itself saw (a 429/503 from egress) for the runtime's retry queue.
    func noteRetryAfter(_ millis: Int64) {
        lock.withLock { current.pointee.retryAfterMillis = max(current.pointee.retryAfterMillis ?? 0, millis) }
    }

    /// The delay the plugin asked for with SB_EMIT_RETRY_AFTER in the operation that just returned.
    var finishedRetryAfter: Int64? { current.pointee.retryAfterMillis }

    /// Hands one item to the call's sink. The call's generation is checked again under the emit lock: an
    /// emit that races the call's end is refused, never delivered to the next call's sink.
    func emit(_ generation: UInt32, _ kind: UInt32, key: sb_str, data: sb_bytes) -> Int32 {
        emitLock.withLock {
            guard isLive(generation) else {
                refusedAfterReturn.add(1, ordering: .relaxed)
                return SB_CANCELLED
            }
            let keyLength = key.ptr == nil ? 0 : UInt(bitPattern: key.len), dataLength = data.ptr == nil ? 0 : UInt(bitPattern: data.len)
            if let refusal = HostServicesPolicy.oversizeEmit(keyBytes: keyLength, dataBytes: dataLength) {
                report(refusal.diagnostic)
                current.pointee.oversize = true
                return refusal.status.rawValue
            }
            if let refusal = HostServicesPolicy.unacceptedEmit(kind: kind, accepted: current.pointee.allowedKinds,
                                                               operation: "\(current.pointee.operation)") {
                report(refusal.diagnostic)
                return refusal.status.rawValue
            }
            let emitKind = EmitKind(rawValue: kind)!  // admitted above: a known kind
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

    /// Keeps a diagnostic of the call in progress; past `DiagnosticLimits.perCall`, one last line counts the rest.
    func report(_ diagnostic: Diagnostic) {
        lock.withLock {
            let kept = current.pointee.diagnostics.count
            if kept < DiagnosticLimits.perCall {
                current.pointee.diagnostics.append(diagnostic)
            } else if kept == DiagnosticLimits.perCall {
                current.pointee.diagnostics.append(Diagnostic("further diagnostics dropped: at most \(DiagnosticLimits.perCall) are kept per call",
                                                              severity: .warning))
            }
        }
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
