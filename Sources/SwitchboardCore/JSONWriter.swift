extension JSON {
    /// Compact UTF-8 serialisation (members in their stored order).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)  // most records fit: no regrowth while writing
        write(into: &out)
        return out
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSON.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Strings as one JSON array's text, written without building a JSON value first.
    public static func arrayText(_ strings: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(strings.count * 48 + 2)
        for (i, s) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(s, into: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `s` as a JSON string literal (quoted, escaped): for encoders that write known shapes directly.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        // Fast path: most strings need no escaping and are copied in one go.
        var string = s
        let copied: Bool = string.withUTF8 { utf8 in
            var i = JSON.skipPlainWords(UnsafeRawBufferPointer(utf8), from: 0)
            while i < utf8.count {
                let c = utf8[i]
                if c < 0x20 || c == 0x22 || c == 0x5C { return false }
                i += 1
            }
            out.append(contentsOf: utf8)
            return true
        }
        if copied {
            out.append(0x22)
            return
        }
        for c in s.utf8 {
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: out.append(c)
            }
        }
        out.append(0x22)
    }

    /// Where the first eight-byte word holding a byte that needs a look (`hasSpecialByte`) starts, scanning
    /// `bytes` from `start` a word at a time; the tail shorter than a word is left to the caller.
    @inline(__always)
    static func skipPlainWords(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return start }
        var at = start
        while at + 8 <= bytes.count {
            if hasSpecialByte(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self))) { break }
            at += 8
        }
        return at
    }

    /// Whether any byte of `word` (eight bytes of a string, read at once) is `"`, `\`, below 0x20, or 0x80 and
    /// above: the bytes the parser and the writer must look at one by one. Strings are scanned a word at a time
    /// up to the first such byte.
    @inline(__always)
    static func hasSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        // A byte is zero in x exactly where it equals the byte XORed in; (x - 1s) & ~x & 0x80s flags such bytes.
        func hasZero(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let quote = hasZero(word ^ (ones &* 0x22)), backslash = hasZero(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs  // bytes below 0x20 (and some at 0x80 and above)
        return (quote | backslash | control | (word & highs)) != 0
    }
}
