import NIOCore
import PostgresNIO

/// One-dimensional arrays in PostgreSQL's binary format, written and read directly. The queue binds a batch
/// as one array per column and reads a claimed batch back as one row of arrays: postgres-nio's generic array
/// encoding was an eighth of a host's committing thread, and each result row costs a host more (a protocol
/// message, a row, its cells) than each array element does.
enum PGArray {
    /// An array of `elements` (no nulls) of type `element`: the header, then each element's length and bytes.
    static func encode<Element>(_ elements: [Element], of element: PostgresDataType, as type: PostgresDataType,
                                write: (inout ByteBuffer, Element) -> Int) -> PostgresData {
        var buffer = ByteBufferAllocator().buffer(capacity: 20 + elements.count * 24)
        buffer.writeInteger(Int32(1))  // dimensions
        buffer.writeInteger(Int32(0))  // no nulls
        buffer.writeInteger(Int32(bitPattern: element.rawValue))
        buffer.writeInteger(Int32(elements.count))
        buffer.writeInteger(Int32(1))  // lower bound
        for value in elements {
            let lengthAt = buffer.writerIndex
            buffer.writeInteger(Int32(0))
            let length = write(&buffer, value)
            buffer.setInteger(Int32(length), at: lengthAt)
        }
        return PostgresData(type: type, value: buffer)
    }

    /// The elements of a one-dimensional array (nil for a NULL element); an SQL NULL or an empty array is [].
    static func elements(_ cell: ByteBuffer?) throws -> [ByteBuffer?] {
        guard var buffer = cell else { return [] }
        guard let dimensions = buffer.readInteger(as: Int32.self), buffer.readInteger(as: Int32.self) != nil,
              buffer.readInteger(as: Int32.self) != nil else { throw Malformed() }
        guard dimensions != 0 else { return [] }
        guard dimensions == 1, let count = buffer.readInteger(as: Int32.self), count >= 0,
              buffer.readInteger(as: Int32.self) != nil else { throw Malformed() }
        var elements: [ByteBuffer?] = []
        elements.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: Int32.self) else { throw Malformed() }
            if length < 0 { elements.append(nil); continue }
            guard let element = buffer.readSlice(length: Int(length)) else { throw Malformed() }
            elements.append(element)
        }
        return elements
    }

    static func texts(_ cell: ByteBuffer?) throws -> [String?] {
        try elements(cell).map { $0.map { String(buffer: $0) } }
    }

    static func ints(_ cell: ByteBuffer?) throws -> [Int64?] {
        try elements(cell).map { element in
            guard var element else { return nil }
            guard element.readableBytes == 8, let value = element.readInteger(as: Int64.self) else { throw Malformed() }
            return value
        }
    }

    static func bytes(_ cell: ByteBuffer?) throws -> [[UInt8]?] {
        try elements(cell).map { $0.map { Array($0.readableBytesView) } }
    }

    /// An array cell that is not what the statement returns (a server or protocol fault, never the data's).
    struct Malformed: Error, CustomStringConvertible {
        var description: String { "postgres: a malformed array in a result" }
    }
}
