/// The worker protocol's field encoding (docs/SANDBOX.md section 3):
/// little-endian fixed-width integers, length-prefixed bytes and strings.
struct FrameWriter {
    private(set) var bytes: [UInt8] = []

    init(type: FrameType) {
        bytes.reserveCapacity(256)
        bytes.append(contentsOf: [0, 0, 0, 0, type.rawValue])
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func bytes(_ raw: UnsafeRawBufferPointer) {
        u32(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }
    mutating func bytes(_ v: [UInt8]) { v.withUnsafeBytes { bytes($0) } }
    mutating func string(_ s: String) {
        var copy = s
        copy.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }
    mutating func map(_ pairs: [(String, String)]) {
        u32(UInt32(pairs.count))
        for (k, v) in pairs { string(k); string(v) }
    }

    /// The finished frame, its length field filled in. Consuming, so the
    /// bytes are patched in place rather than copied (frames can be large).
    consuming func framed() -> [UInt8] {
        var out = bytes
        bytes = []
        let length = UInt32(out.count - 4)
        for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
        return out
    }
}

/// A malformed frame: the peer is broken or hostile.
package struct ProtocolViolation: Error, CustomStringConvertible {
    package var description: String
}

struct FrameReader {
    let body: ArraySlice<UInt8>
    private var at: Int

    init(_ body: ArraySlice<UInt8>) {
        self.body = body
        at = body.startIndex
    }

    private mutating func take(_ n: Int) throws(ProtocolViolation) -> ArraySlice<UInt8> {
        guard n >= 0, body.endIndex - at >= n else { throw ProtocolViolation(description: "truncated frame field") }
        defer { at += n }
        return body[at..<(at + n)]
    }

    mutating func u8() throws(ProtocolViolation) -> UInt8 { try take(1).first! }
    mutating func bool() throws(ProtocolViolation) -> Bool { try u8() != 0 }
    mutating func u32() throws(ProtocolViolation) -> UInt32 {
        let s = try take(4)
        var v: UInt32 = 0
        for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }
    mutating func i32() throws(ProtocolViolation) -> Int32 { Int32(bitPattern: try u32()) }
    mutating func u64() throws(ProtocolViolation) -> UInt64 {
        let s = try take(8)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
    mutating func i64() throws(ProtocolViolation) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func bytes() throws(ProtocolViolation) -> [UInt8] { Array(try take(Int(try u32()))) }
    mutating func string() throws(ProtocolViolation) -> String { String(decoding: try take(Int(try u32())), as: UTF8.self) }
    mutating func map() throws(ProtocolViolation) -> [(String, String)] {
        let count = Int(try u32())
        guard count <= body.count else { throw ProtocolViolation(description: "map count \(count) exceeds the frame") }
        var out: [(String, String)] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append((try string(), try string())) }
        return out
    }
}

enum FrameType: UInt8 {
    // host -> worker
    case load = 1, call, reply, quit
    // worker -> host
    case hello = 16, loaded, loadFailed, emit, log, metric, request, result, stage
}

/// The operations a CALL frame carries.
enum WorkerOp: UInt8 {
    case spec = 1, validateConfig, open, checkConnection, discover, read, write, handleWebhook, onEvent, close, fetch

    var name: String {
        switch self {
        case .spec: "spec"
        case .validateConfig: "validate_config"
        case .open: "open"
        case .checkConnection: "check_connection"
        case .discover: "discover"
        case .read: "read"
        case .write: "write"
        case .handleWebhook: "handle_webhook"
        case .onEvent: "on_event"
        case .close: "close"
        case .fetch: "fetch"
        }
    }
}

/// Host services a worker asks the host for.
enum WorkerService: UInt8 { case secret = 1, http, stateGet, statePut }

/// The largest frame either side accepts (docs/SANDBOX.md): 64 MiB.
let maxFrameBytes = 64 << 20
