import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `sb_call *` values plugins are given. A handle is not an address: its high 32 bits name a
/// slot (one per `CallContext`, i.e. per plugin instance or library) and its low 32 bits the call's
/// generation. A handle kept past its call's return (a plugin thread, a pointer stored in open)
/// names a generation that has ended, so every host function can tell it from the live call and
/// refuse it (docs/ABI.md, "Call lifetime").
enum CallHandles {
    /// Plugin instances and libraries that can exist at once in one process.
    static let capacity = 1 << 16

    /// Slot -> its context (unretained; its owner retires it, clearing the slot, while still holding it).
    private nonisolated(unsafe) static let table: UnsafeMutablePointer<UnsafeRawPointer?> = {
        let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: capacity)
        table.initialize(repeating: nil, count: capacity)
        return table
    }()

    private static let free = Mutex<(released: [UInt32], next: UInt32)>(([], 0))

    /// A slot for `context`, or nil when every slot is taken.
    static func register(_ context: CallContext) -> UInt32? {
        free.withLock { f in
            let slot: UInt32
            if let reused = f.released.popLast() {
                slot = reused
            } else {
                guard f.next < UInt32(capacity) else { return nil }
                slot = f.next
                f.next += 1
            }
            table[Int(slot)] = UnsafeRawPointer(Unmanaged.passUnretained(context).toOpaque())
            return slot
        }
    }

    /// Called when the context retires (its owner still holds it); under the lock, so a scan or a resolve in
    /// progress (which holds it) has retained what it found before the slot is cleared.
    static func unregister(_ slot: UInt32) {
        free.withLock { f in
            table[Int(slot)] = nil
            f.released.append(slot)
        }
    }

    /// Every registered context (the watchdog's scan; slots freed meanwhile read as nil).
    static func forEach(_ body: (CallContext) -> Void) {
        free.withLock { f in
            for slot in 0..<Int(f.next) {
                // Not retained: a release here could free the context on this thread, whose deinit then waits
                // for this lock. A context being freed meanwhile waits in `unregister` until the scan ends.
                if let raw = table[slot] { Unmanaged<CallContext>.fromOpaque(raw)._withUnsafeGuaranteedRef { body($0) } }
            }
        }
    }

    /// The handle of `generation` in `slot` (never 0: generations start at 1).
    @inline(__always)
    static func handle(slot: UInt32, generation: UInt32) -> OpaquePointer {
        OpaquePointer(bitPattern: UInt(slot) << 32 | UInt(generation))!
    }

    /// The generation a handle carries (its low 32 bits).
    @inline(__always)
    static func generation(of call: OpaquePointer?) -> UInt32 {
        UInt32(truncatingIfNeeded: UInt(bitPattern: Int(bitPattern: call.map(UnsafeRawPointer.init))))
    }

    /// The context a handle names and the generation it carries; nil for a handle no context issued (or
    /// one whose context retired). The context is retained under the lock: a plugin thread that outlived its
    /// instance (a stale handle) can race the instance's retirement, and must hold a live object or nothing.
    @inline(__always)
    static func resolve(_ call: OpaquePointer?) -> (context: CallContext, generation: UInt32)? {
        guard let call else { return nil }
        let bits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(call)))
        let slot = Int(bits >> 32)
        guard slot < capacity else { return nil }
        return free.withLock { _ -> (context: CallContext, generation: UInt32)? in
            guard let raw = table[slot] else { return nil }
            return (Unmanaged<CallContext>.fromOpaque(raw).takeUnretainedValue(), generation(of: call))
        }
    }
}
