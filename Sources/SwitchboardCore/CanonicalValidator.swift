/// Validates canonical records and events against the model, naming the
/// field path of every problem. Runs at each boundary: records from plugins,
/// events from webhooks, the output of mappings.
public enum CanonicalValidator {
    /// Every problem in a record of `entity` (empty = valid). A `partial`
    /// record (a master-data update of some fields) skips the top-level
    /// required-field check but still checks every field it carries.
    public static func validate(record: JSON, entity: String, partial: Bool = false) -> [Diagnostic] {
        guard let type = CanonicalModel.entity(entity) else {
            return [Diagnostic("unknown canonical entity \"\(entity)\"", fieldPath: "entity")]
        }
        var problems: [Diagnostic] = []
        let fields = partial ? type.allFields.map { f in
            var optional = f
            optional.required = CanonicalModel.envelope.contains { $0.name == f.name } && f.required
            return optional
        } : type.allFields
        check(object: record, fields: fields, path: "", into: &problems)
        return problems
    }

    /// Every problem in an event: a known type whose `data` is a valid record of the event's entity.
    public static func validate(event: JSON, type name: String) -> [Diagnostic] {
        guard let type = CanonicalModel.event(name) else {
            return [Diagnostic("unknown business event \"\(name)\"", detail: "known: " + CanonicalModel.events.map(\.name).joined(separator: ", "),
                               fieldPath: "type")]
        }
        return validate(record: event, entity: type.entity)
    }

    /// The money a record blocks while it is stuck (its entity's impact field).
    public static func impact(of record: JSON, entity: String) -> (amount: String, currency: String)? {
        guard let field = CanonicalModel.entity(entity)?.impactField, let money = record[field],
              let amount = money["amount"]?.numberText, let currency = money["currency"]?.stringValue,
              isDecimal(amount), isCurrency(currency) else { return nil }
        return (amount, currency)
    }

    static func check(object value: JSON, fields: [Field], path: String, into problems: inout [Diagnostic]) {
        guard case .object(let members) = value else {
            problems.append(Diagnostic("expected an object, got \(value.typeName)", fieldPath: path))
            return
        }
        // Hot path: one pass over the members; field paths are built only for problems.
        var seenRequired = 0
        let requiredCount = fields.reduce(0) { $0 + ($1.required ? 1 : 0) }
        for (key, member) in members {
            guard let field = fields.first(where: { $0.name == key }) else {
                problems.append(Diagnostic("unknown field", detail: "put custom data under \"custom\"", fieldPath: FieldPath.join(path, key)))
                continue
            }
            if member == .null {
                if field.required { problems.append(Diagnostic("required field is missing", fieldPath: FieldPath.join(path, key))) }
                continue
            }
            if field.required { seenRequired += 1 }
            if isScalarValid(member, field.type) { continue }
            check(member, type: field.type, path: FieldPath.join(path, key), into: &problems)
        }
        if seenRequired < requiredCount {
            for field in fields where field.required && !members.contains(where: { $0.0 == field.name }) {
                problems.append(Diagnostic("required field is missing", fieldPath: FieldPath.join(path, field.name)))
            }
        }
    }

    /// The common valid cases, checked without building a path: the full check runs only when this says no.
    @inline(__always)
    static func isScalarValid(_ value: JSON, _ type: FieldType) -> Bool {
        switch (type, value) {
        // Bytes bound characters from above and are counted at once: a long multi-byte id goes to the full check.
        case (.identifier, .string(let s)): return s.utf8.count <= FieldType.identifierMaxLength
        case (.string, .string), (.reference, .string), (.boolean, .bool), (.number, .number), (.anyObject, .object): return true
        case (.currency, .string(let s)): return isCurrency(s)
        case (.dateTime, .string(let s)): return isDateTime(s)
        case (.date, .string(let s)): return isDate(s)
        case (.email, .string(let s)): return isEmail(s)
        case (.enumeration(let allowed), .string(let s)): return allowed.contains(s)
        default: return false
        }
    }

    static func check(_ value: JSON, type: FieldType, path: String, into problems: inout [Diagnostic]) {
        func fail(_ message: String) { problems.append(Diagnostic(message, fieldPath: path)) }
        switch type {
        case .string, .reference:
            if value.stringValue == nil { fail("expected a string, got \(value.typeName)") }
        case .identifier:
            guard let id = value.stringValue else { return fail("expected a string, got \(value.typeName)") }
            let length = id.unicodeScalars.count
            if length > FieldType.identifierMaxLength {
                fail("is \(length) characters long; ids are at most \(FieldType.identifierMaxLength)")
            }
        case .integer:
            if case .number(let n) = value, Int(n) != nil { return }
            fail("expected an integer, got \(value.typeName)")
        case .number:
            if case .number = value { return }
            fail("expected a number, got \(value.typeName)")
        case .boolean:
            if value.boolValue == nil { fail("expected true or false, got \(value.typeName)") }
        case .decimal:
            guard let text = value.numberText, isDecimal(text) else { return fail("expected a decimal string such as \"12.50\"") }
        case .money:
            guard case .object = value else { return fail("expected money {\"amount\": \"12.50\", \"currency\": \"EUR\"}") }
            check(object: value, fields: moneyFields, path: path, into: &problems)
        case .currency:
            guard let code = value.stringValue, isCurrency(code) else { return fail("expected an ISO 4217 currency code such as \"EUR\"") }
        case .country:
            guard let code = value.stringValue, code.utf8.count == 2, code.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
                return fail("expected an ISO 3166-1 alpha-2 country code such as \"DE\"")
            }
        case .date:
            guard let text = value.stringValue, isDate(text) else { return fail("expected an ISO 8601 date YYYY-MM-DD") }
        case .dateTime:
            guard let text = value.stringValue, isDateTime(text) else {
                return fail("expected an ISO 8601 date-time with offset, e.g. 2026-11-27T10:15:00Z")
            }
        case .email:
            guard let text = value.stringValue, isEmail(text) else { return fail("expected an email address") }
        case .enumeration(let allowed):
            guard let text = value.stringValue, allowed.contains(text) else {
                return fail("expected one of: \(allowed.joined(separator: ", "))")
            }
        case .object(let fields):
            check(object: value, fields: fields, path: path, into: &problems)
        case .array(let element):
            guard let items = value.arrayValue else { return fail("expected an array, got \(value.typeName)") }
            for (i, item) in items.enumerated() { check(item, type: element, path: FieldPath.index(path, i), into: &problems) }
        case .anyObject:
            guard case .object = value else { return fail("expected an object, got \(value.typeName)") }
        }
    }

    static let moneyFields = [Field("amount", .decimal, required: true), Field("currency", .currency, required: true)]

    public static func isDecimal(_ s: String) -> Bool {
        var bytes = Substring(s).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")) else { return !bytes.isEmpty && bytes.allSatisfy(isDigit) }
        let whole = bytes[..<dot], fraction = bytes[bytes.index(after: dot)...]
        return !whole.isEmpty && !fraction.isEmpty && whole.allSatisfy(isDigit) && fraction.allSatisfy(isDigit)
    }

    public static func isCurrency(_ s: String) -> Bool { s.utf8.count == 3 && s.utf8.allSatisfy { $0 >= 65 && $0 <= 90 } }

    /// An ISO 8601 calendar date: `YYYY-MM-DD`, a day that exists.
    public static func isDate(_ s: String) -> Bool { withBytes(s) { $0.count == 10 && isDate($0, at: 0) } }

    /// An ISO 8601 date-time with an offset: `2026-11-27T10:15:00Z`, optional fraction, `Z` or `±HH:MM`.
    public static func isDateTime(_ s: String) -> Bool {
        withBytes(s) { b in
            guard b.count >= 20, isDate(b, at: 0), b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20, b[13] == 0x3A, b[16] == 0x3A,
                  let h = number(b, 11, 2), let mi = number(b, 14, 2), let se = number(b, 17, 2), h < 24, mi < 60, se < 61 else { return false }
            var i = 19
            if b[i] == 0x2E {
                i += 1
                let start = i
                while i < b.count, isDigit(b[i]) { i += 1 }
                guard i > start else { return false }
            }
            guard i < b.count else { return false }
            if b[i] == 0x5A || b[i] == 0x7A { return i == b.count - 1 }
            guard b[i] == 0x2B || b[i] == 0x2D, b.count - i == 6, b[i + 3] == 0x3A,
                  let oh = number(b, i + 1, 2), let om = number(b, i + 4, 2) else { return false }
            return oh < 24 && om < 60
        }
    }

    /// A local part, one `@`, and a dotted domain; no spaces.
    public static func isEmail(_ s: String) -> Bool {
        withBytes(s) { b in
            guard let at = b.firstIndex(of: 0x40), at > 0, !b.contains(0x20) else { return false }
            let domain = b[(at + 1)...]
            return domain.contains(0x2E) && domain.first != 0x2E && domain.last != 0x2E && !domain.contains(0x40)
        }
    }

    /// Runs `body` on a string's UTF-8 bytes, in place for a native string. These checks run on every record
    /// twice per event; copying each string into an array first was most of their cost.
    @inline(__always)
    static func withBytes<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var s = s
        return s.withUTF8(body)
    }

    /// `YYYY-MM-DD` at `o` in `b`, a day that exists.
    static func isDate(_ b: UnsafeBufferPointer<UInt8>, at o: Int) -> Bool {
        guard b.count >= o + 10, b[o + 4] == 0x2D, b[o + 7] == 0x2D,
              let y = number(b, o, 4), let m = number(b, o + 5, 2), let d = number(b, o + 8, 2), (1...12).contains(m) else { return false }
        let days = switch m {
        case 2: (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
        return d >= 1 && d <= days
    }

    /// The decimal number in `count` digits at `start` of `b`; nil if any is not a digit.
    static func number(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
        var n = 0
        for i in start..<start + count {
            guard isDigit(b[i]) else { return nil }
            n = n * 10 + Int(b[i] - 0x30)
        }
        return n
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
