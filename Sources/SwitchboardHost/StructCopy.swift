/// Reads a versioned struct the other side filled, by the rules of the ABI
/// (the Linux copy_struct_from_user rule): a shorter struct is zero-extended,
/// a longer one is accepted only when every byte past what the host knows is zero.
enum StructCopy {
    enum Outcome<T> {
        case ok(T)
        /// The sender set a byte the host does not know (offset from the struct start).
        case unknownTail(offset: Int)
        /// Too short to even hold the size field.
        case tooSmall(Int)
    }

    static func read<T>(_ pointer: UnsafeRawPointer, as type: T.Type, declaredSize: Int, minimumSize: Int = 4) -> Outcome<T> {
        let known = MemoryLayout<T>.size
        guard declaredSize >= minimumSize else { return .tooSmall(declaredSize) }
        if declaredSize > known {
            let tail = UnsafeRawBufferPointer(start: pointer + known, count: declaredSize - known)
            if let index = tail.firstIndex(where: { $0 != 0 }) { return .unknownTail(offset: known + index) }
        }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: known, alignment: MemoryLayout<T>.alignment)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: known)
        storage.copyMemory(from: pointer, byteCount: min(declaredSize, known))
        return .ok(storage.load(as: T.self))
    }
}
