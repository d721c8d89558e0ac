/// A JSON value. Numbers keep their source text, so decimals (money) never
/// pass through a binary float; objects keep their key order.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y || Double(x) == Double(y)
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { key, value in y.first { $0.0 == key }?.1 == value }
        default: false
        }
    }

    /// The member of an object with that key.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A number or a numeric string as text (decimal amounts arrive either way).
    public var numberText: String? {
        switch self {
        case .number(let n): n
        case .string(let s): s
        default: nil
        }
    }

    public var intValue: Int? {
        if case .number(let n) = self { return Int(n) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [(String, JSON)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The JSON type name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Returns a copy with `value` set at `key` (replacing an existing member).
    public func setting(_ key: String, _ value: JSON) -> JSON {
        var copy = self
        copy.set(key, value)
        return copy
    }

    /// Sets `value` at `key` (replacing an existing member); a value that is not an object becomes one.
    /// Changes the members in place when this value holds the only reference to them.
    public mutating func set(_ key: String, _ value: JSON) {
        guard case .object(var members) = self else {
            self = .object([(key, value)])
            return
        }
        self = .null  // drop this value's reference, so `members` is unique and is not copied to change
        if let index = members.firstIndex(where: { $0.0 == key }) {
            members[index].1 = value
        } else {
            members.append((key, value))
        }
        self = .object(members)
    }

    /// Looks up a dotted path with indices: `account.name`, `lines[0].amount`.
    public func value(at path: String) -> JSON? { value(at: FieldPath.segments(path)) }

    /// Looks up a path already split into segments.
    public func value(at segments: [FieldPath.Segment]) -> JSON? {
        var current: JSON? = self
        for segment in segments {
            switch segment {
            case .key(let key): current = current?[key]
            case .index(let index):
                guard let array = current?.arrayValue, index >= 0, index < array.count else { return nil }
                current = array[index]
            }
        }
        return current
    }
}

/// Dotted field paths with indices, the form every diagnostic uses.
public enum FieldPath {
    public enum Segment: Equatable, Sendable { case key(String), index(Int) }

    public static func segments(_ path: String) -> [Segment] {
        var out: [Segment] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: true) {
            var name = Substring(part)
            var indices: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                if let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) { indices.insert(i, at: 0) }
                name = name[..<open]
            }
            if !name.isEmpty { out.append(.key(String(name))) }
            out.append(contentsOf: indices.map { .index($0) })
        }
        return out
    }

    /// `parent.child`, or `child` at the root.
    public static func join(_ parent: String, _ child: String) -> String { parent.isEmpty ? child : parent + "." + child }

    /// `parent[index]`.
    public static func index(_ parent: String, _ index: Int) -> String { "\(parent)[\(index)]" }
}
