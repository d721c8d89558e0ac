import SwitchboardABI

/// Borrowed views for crossing the ABI: valid only inside the closure.
@inline(__always)
func withStr<R>(_ string: String, _ body: (sb_str) -> R) -> R {
    var copy = string
    return copy.withUTF8 { utf8 in
        body(sb_str(ptr: utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, len: utf8.count))
    }
}

@inline(__always)
func withBytes<R>(_ bytes: [UInt8], _ body: (sb_bytes) -> R) -> R {
    bytes.withUnsafeBufferPointer { body(sb_bytes(ptr: $0.baseAddress, len: $0.count)) }
}

extension sb_str {
    /// Copies the borrowed string (invalid UTF-8 is repaired, never trusted).
    var string: String {
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}

extension sb_bytes {
    /// Copies the borrowed bytes.
    var array: [UInt8] {
        guard let ptr, len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: len))
    }
}
