#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a versioned struct the other side filled, by the rules of the ABI
/// (the Linux copy_struct_from_user rule): a shorter struct is zero-extended,
/// a longer one is accepted only when every byte past what the host knows is zero.
package enum StructCopy {
    package enum Outcome<T> {
        case ok(T)
        /// The sender set a byte the host does not know (offset from the struct start).
        case unknownTail(offset: Int)
        /// Too short to even hold the size field.
        case tooSmall(Int)
        /// Larger than any struct of this ABI major can grow (`maxTailBytes` past the host's), or its
        /// tail is not readable memory: the size is a lie, and reading by it would crash the reader.
        case tooLarge(Int)
    }

    /// How far past the host's size a newer minor's struct may reach (ABI 1 structs grow by a few fields).
    static let maxTailBytes = 4096

    /// `probeTail`: check the tail is readable memory before scanning it (load time: a manifest or vtable
    /// whose size lies would crash the loader). Per-call structs skip it: they live on the plugin's own
    /// stack, and three system calls per emit of a newer minor would cost more than the bound protects.
    package static func read<T>(_ pointer: UnsafeRawPointer, as type: T.Type, declaredSize: Int, minimumSize: Int = 4,
                        probeTail: Bool = false) -> Outcome<T> {
        let known = MemoryLayout<T>.size
        guard declaredSize >= minimumSize else { return .tooSmall(declaredSize) }
        if declaredSize > known {
            guard declaredSize - known <= maxTailBytes, !probeTail || readable(pointer + known, count: declaredSize - known) else {
                return .tooLarge(declaredSize)
            }
            let tail = UnsafeRawBufferPointer(start: pointer + known, count: declaredSize - known)
            if let index = tail.firstIndex(where: { $0 != 0 }) { return .unknownTail(offset: known + index) }
        }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: known, alignment: MemoryLayout<T>.alignment)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: known)
        storage.copyMemory(from: pointer, byteCount: min(declaredSize, known))
        return .ok(storage.load(as: T.self))
    }

    /// True when `count` bytes (at most a pipe's capacity) at `pointer` can be read: the kernel copies
    /// them into a pipe and answers EFAULT where this process would fault.
    static func readable(_ pointer: UnsafeRawPointer, count: Int) -> Bool {
        var fds: [Int32] = [0, 0]
        guard count <= 16 * 1024, pipe(&fds) == 0 else { return false }
        defer { close(fds[0]); close(fds[1]) }
        return write(fds[1], pointer, count) == count
    }
}
