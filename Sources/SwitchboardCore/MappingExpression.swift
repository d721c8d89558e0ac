/// The small expression language of field mappings:
///
///     $.account.name                    a path into the input document
///     'Fixed text'  42  true  null      literals
///     concat($.first_name, ' ', $.last_name)
///     upper(x)  lower(x)  trim(x)  coalesce(a, b, ...)  date($.closed_at)
///     money($.amount.amount, 'EUR')     {"amount": ..., "currency": ...}
///
/// Parsed once when the configuration loads (errors name the column), then
/// evaluated per event without allocation-heavy machinery.
public indirect enum MappingExpression: Sendable, Equatable {
    /// A path into the input, split into segments once at parse time.
    case path([FieldPath.Segment])
    case literal(JSON)
    case call(String, [MappingExpression])

    public static let functions: [String: ClosedRange<Int>] = [
        "concat": 1...16, "upper": 1...1, "lower": 1...1, "trim": 1...1, "coalesce": 1...16, "date": 1...1, "money": 2...2,
    ]

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var column: Int
        public var message: String
        public var description: String { "column \(column): \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> MappingExpression {
        var p = ExpressionParser(chars: Array(text))
        p.space()
        let e = try p.expression()
        p.space()
        guard p.at == p.chars.count else { throw p.error("unexpected '\(p.chars[p.at])'") }
        return e
    }

    /// Evaluates against `input`; a missing path is `null`.
    public func evaluate(_ input: JSON) -> JSON {
        switch self {
        case .path(let segments): return input.value(at: segments) ?? .null
        case .literal(let value): return value
        case .call(let name, let args):
            let values = args.map { $0.evaluate(input) }
            func text(_ v: JSON) -> String? {
                switch v {
                case .string(let s): s
                case .number(let n): n
                case .bool(let b): b ? "true" : "false"
                default: nil
                }
            }
            switch name {
            case "concat": return .string(values.compactMap(text).joined())
            case "upper": return text(values[0]).map { .string($0.uppercased()) } ?? .null
            case "lower": return text(values[0]).map { .string($0.lowercased()) } ?? .null
            case "trim": return text(values[0]).map { .string($0.trimmingSpaces) } ?? .null
            case "coalesce": return values.first { $0 != .null } ?? .null
            case "date": return text(values[0]).map { .string(String($0.prefix(10))) } ?? .null
            case "money":
                guard let amount = text(values[0]), let currency = text(values[1]) else { return .null }
                return .object([("amount", .string(amount)), ("currency", .string(currency))])
            default: return .null
            }
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

private struct ExpressionParser {
    let chars: [Character]
    var at = 0

    func error(_ message: String) -> MappingExpression.ParseError { MappingExpression.ParseError(column: at + 1, message: message) }

    mutating func space() { while at < chars.count, chars[at].isWhitespace { at += 1 } }

    mutating func expression() throws(MappingExpression.ParseError) -> MappingExpression {
        guard at < chars.count else { throw error("expression expected") }
        let c = chars[at]
        if c == "$" { return try path() }
        if c == "'" || c == "\"" { return .literal(.string(try quoted(c))) }
        if c == "-" || (c.isASCII && c.isNumber) { return .literal(.number(try number())) }
        guard c.isLetter else { throw error("unexpected '\(c)'") }
        let name = identifier()
        switch name {
        case "true": return .literal(.bool(true))
        case "false": return .literal(.bool(false))
        case "null": return .literal(.null)
        default: break
        }
        space()
        guard at < chars.count, chars[at] == "(" else { throw error("'(' expected after \(name), or write a path as $.\(name)") }
        guard let arity = MappingExpression.functions[name] else {
            throw error("unknown function \(name)(); known: \(MappingExpression.functions.keys.sorted().joined(separator: ", "))")
        }
        at += 1
        var args: [MappingExpression] = []
        space()
        if at < chars.count, chars[at] == ")" { at += 1 } else {
            while true {
                space()
                args.append(try expression())
                space()
                guard at < chars.count else { throw error("')' expected") }
                if chars[at] == ")" { at += 1; break }
                guard chars[at] == "," else { throw error("',' or ')' expected") }
                at += 1
            }
        }
        guard arity.contains(args.count) else {
            throw error("\(name)() takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") arguments, got \(args.count)")
        }
        return .call(name, args)
    }

    mutating func path() throws(MappingExpression.ParseError) -> MappingExpression {
        at += 1
        if at >= chars.count || chars[at] != "." { return .path([]) }
        at += 1
        let start = at
        while at < chars.count, chars[at].isLetter || chars[at].isNumber || "_.[]-".contains(chars[at]) { at += 1 }
        guard at > start else { throw error("field name expected after '$.'") }
        return .path(FieldPath.segments(String(chars[start..<at])))
    }

    mutating func quoted(_ quote: Character) throws(MappingExpression.ParseError) -> String {
        at += 1
        var out = ""
        while at < chars.count, chars[at] != quote {
            if chars[at] == "\\", at + 1 < chars.count { at += 1 }
            out.append(chars[at])
            at += 1
        }
        guard at < chars.count else { throw error("unterminated string") }
        at += 1
        return out
    }

    /// A JSON number as the mapping writes it out: `-?DIGITS(.DIGITS)?`, ASCII digits only, no leading zero
    /// (anything else would be written into a record as invalid JSON; `07` was, found by fuzzing).
    mutating func number() throws(MappingExpression.ParseError) -> String {
        let start = at
        at += 1
        while at < chars.count, (chars[at].isASCII && chars[at].isNumber) || chars[at] == "." { at += 1 }
        let text = String(chars[start..<at])
        guard CanonicalValidator.isDecimal(text) else {
            at = start
            throw error("\(text) is not a number (write digits, an optional minus sign and at most one decimal point, e.g. -12.50)")
        }
        if at < chars.count, chars[at].isNumber {
            throw error("'\(chars[at])' is not an ASCII digit")
        }
        let whole = text.drop { $0 == "-" }.prefix { $0 != "." }
        if whole.count > 1, whole.first == "0" {
            at = start
            throw error("\(text) is not a number: a JSON number has no leading zero")
        }
        return text
    }

    mutating func identifier() -> String {
        let start = at
        while at < chars.count, chars[at].isLetter || chars[at].isNumber || chars[at] == "_" { at += 1 }
        return String(chars[start..<at])
    }
}

/// A mapping: target field paths, each computed by an expression.
public struct FieldMapping: Sendable {
    public var assignments: [(target: String, expression: MappingExpression)]
    /// Targets split at dots once, not per event.
    private let targetPaths: [[String]]

    public init(_ assignments: [(target: String, expression: MappingExpression)]) {
        self.assignments = assignments
        targetPaths = assignments.map { $0.target.split(separator: ".").map(String.init) }
    }

    /// Builds the output document; nested targets (`billing_address.city`) create objects.
    public func apply(to input: JSON) -> JSON {
        var members: [(String, JSON)] = []
        members.reserveCapacity(assignments.count)
        var out = JSON.object([])
        var flat = true
        for (index, (_, expression)) in assignments.enumerated() {
            let value = expression.evaluate(input)
            if value == .null { continue }
            let path = targetPaths[index]
            if path.count == 1 && flat {
                members.append((path[0], value))
            } else {
                if flat {
                    out = .object(members)
                    flat = false
                }
                out = Self.set(out, path: path, value: value)
            }
        }
        return flat ? .object(members) : out
    }

    static func set(_ doc: JSON, path: [String], value: JSON) -> JSON {
        guard let head = path.first else { return value }
        if path.count == 1 { return doc.setting(head, value) }
        let child = doc[head] ?? .object([])
        return doc.setting(head, set(child, path: Array(path.dropFirst()), value: value))
    }
}
