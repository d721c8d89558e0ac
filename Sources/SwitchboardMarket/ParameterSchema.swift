import Foundation
import SwitchboardCore
import SwitchboardPackages

/// The parameters an accelerator's installer must give, as its `parameters.schema.json` declares them: a JSON
/// Schema subset (docs/PACKAGES.md, step 4). Every problem is reported at once, each naming the parameter.
public struct ParameterSchema: Sendable {
    struct Property: Sendable {
        var type: String
        var enumeration: [JSON]?
        var pattern: String?
        var minimum: Double?
        var maximum: Double?
        var defaultValue: JSON?
        var items: String?
    }

    let properties: [(name: String, property: Property)]
    let required: Set<String>
    let closed: Bool

    public var names: [String] { properties.map(\.name) }

    static let types: Set<String> = ["string", "integer", "number", "boolean", "array"]

    public init(bytes: [UInt8]) throws(PackageError) {
        guard let json = try? JSON.parse(bytes), json["type"]?.stringValue == "object", let props = json["properties"]?.objectValue else {
            throw PackageError(.malformed, "parameters.schema.json must be a JSON Schema with type: object and properties")
        }
        var out: [(String, Property)] = []
        for (name, p) in props {
            guard let type = p["type"]?.stringValue, Self.types.contains(type) else {
                throw PackageError(.malformed, "parameters.schema.json: \(name).type must be one of \(Self.types.sorted().joined(separator: ", "))")
            }
            out.append((name, Property(type: type, enumeration: p["enum"]?.arrayValue, pattern: p["pattern"]?.stringValue,
                                       minimum: p["minimum"]?.numberText.flatMap(Double.init), maximum: p["maximum"]?.numberText.flatMap(Double.init),
                                       defaultValue: p["default"], items: p["items"]?["type"]?.stringValue)))
        }
        properties = out
        required = Set((json["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        closed = json["additionalProperties"]?.boolValue == false
    }

    /// `given` (from --values and --set) checked and completed with defaults; throws every problem found.
    /// Values given as text (`--set`) are read as the declared type.
    public func validate(_ given: [(String, JSON)]) throws(PackageError) -> JSON {
        var problems: [String] = []
        var out: [(String, JSON)] = []
        let byName = Dictionary(given, uniquingKeysWith: { _, last in last })
        for name in byName.keys.sorted() where closed && !properties.contains(where: { $0.name == name }) {
            problems.append("parameter \(name): not declared by the package (it declares \(names.joined(separator: ", ")))")
        }
        for (name, property) in properties {
            guard var value = byName[name] ?? property.defaultValue else {
                if required.contains(name) { problems.append("parameter \(name): required (\(property.type == "integer" ? "an" : "a") \(property.type)); give it with --set \(name)=... or --values FILE") }
                continue
            }
            if case .string(let text) = value, property.type != "string" { value = Self.coerce(text, to: property.type, items: property.items) ?? value }
            if let problem = check(value, property) {
                problems.append("parameter \(name): \(problem)")
                continue
            }
            out.append((name, value))
        }
        guard problems.isEmpty else { throw PackageError(.parameters, problems.joined(separator: "; ")) }
        return .object(out)
    }

    static func coerce(_ text: String, to type: String, items: String?) -> JSON? {
        switch type {
        case "integer": return Int(text).map { .number("\($0)") }
        case "number": return Double(text) != nil && CanonicalValidator.isDecimal(text) ? .number(text) : nil
        case "boolean": return text == "true" ? .bool(true) : text == "false" ? .bool(false) : nil
        case "array":
            let parts = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            return .array(parts.map { part in items.flatMap { $0 == "string" ? nil : coerce(part, to: $0, items: nil) } ?? .string(part) })
        default: return nil
        }
    }

    func check(_ value: JSON, _ p: Property) -> String? {
        func typed(_ v: JSON, _ type: String) -> Bool {
            switch (type, v) {
            case ("string", .string), ("boolean", .bool), ("array", .array): return true
            case ("number", .number): return true
            case ("integer", .number(let t)): return Int(t) != nil
            default: return false
            }
        }
        guard typed(value, p.type) else { return "must be \(p.type == "integer" ? "an" : "a") \(p.type), got \(value.typeName) \(String(value.text.prefix(40)))" }
        if let items = p.items, case .array(let list) = value, let bad = list.first(where: { !typed($0, items) }) {
            return "every item must be a \(items), got \(bad.typeName)"
        }
        if let options = p.enumeration, !options.contains(value) {
            return "must be one of \(options.map(\.text).joined(separator: ", ")), got \(value.text)"
        }
        if let pattern = p.pattern, case .string(let text) = value {
            guard let regex = try? Regex(pattern) else { return "the schema's pattern \(pattern) is not a valid regular expression" }
            if text.firstMatch(of: regex) == nil { return "must match \(pattern), got \"\(text)\"" }
        }
        if case .number(let text) = value, let n = Double(text) {
            if let min = p.minimum, n < min { return "must be at least \(JSON.number("\(min)").text), got \(text)" }
            if let max = p.maximum, n > max { return "must be at most \(JSON.number("\(max)").text), got \(text)" }
        }
        return nil
    }
}

extension JSON {
    /// Compact JSON text (messages, template values).
    var text: String { String(decoding: bytes, as: UTF8.self) }
}
