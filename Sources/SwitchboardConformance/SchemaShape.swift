import SwitchboardCore

/// Structural checks of a config spec against the JSON Schema 2020-12
/// vocabulary a config needs: an object schema whose keywords have the
/// types the meta-schema requires. Problems name the JSON path.
enum SchemaShape {
    static let types: Set<String> = ["null", "boolean", "object", "array", "number", "string", "integer"]

    static func problems(_ schema: JSON) -> [String] {
        var out: [String] = []
        guard case .object = schema else { return ["the spec is \(schema.typeName), not a JSON Schema object"] }
        if schema["type"]?.stringValue != "object" {
            out.append("type: a config spec must describe an object (\"type\": \"object\")")
        }
        check(schema, path: "", into: &out)
        return out
    }

    static func check(_ schema: JSON, path: String, into out: inout [String]) {
        func at(_ key: String) -> String { path.isEmpty ? key : path + "." + key }
        if case .bool = schema { return }  // true/false are valid schemas
        guard case .object(let members) = schema else {
            out.append("\(path.isEmpty ? "(root)" : path): a schema must be an object or a boolean, got \(schema.typeName)")
            return
        }
        for (key, value) in members {
            switch key {
            case "type":
                let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue)
                if names == nil || names!.isEmpty || !names!.allSatisfy(types.contains) {
                    out.append("\(at(key)): must be one of \(types.sorted().joined(separator: ", ")) or a list of them")
                }
            case "properties", "$defs", "definitions", "patternProperties":
                guard let props = value.objectValue else {
                    out.append("\(at(key)): must be an object of schemas")
                    continue
                }
                for (name, sub) in props { check(sub, path: at(key) + "." + name, into: &out) }
            case "required":
                guard let names = value.arrayValue, names.allSatisfy({ $0.stringValue != nil }) else {
                    out.append("\(at(key)): must be a list of property names")
                    continue
                }
                let declared = Set(schema["properties"]?.objectValue?.map(\.0) ?? [])
                for name in names.compactMap(\.stringValue) where !declared.contains(name) {
                    out.append("\(at(key)): \"\(name)\" is required but not declared in properties")
                }
            case "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames":
                check(value, path: at(key), into: &out)
            case "allOf", "anyOf", "oneOf", "prefixItems":
                guard let list = value.arrayValue, !list.isEmpty else {
                    out.append("\(at(key)): must be a non-empty list of schemas")
                    continue
                }
                for (i, sub) in list.enumerated() { check(sub, path: "\(at(key))[\(i)]", into: &out) }
            case "enum":
                if value.arrayValue == nil { out.append("\(at(key)): must be a list") }
            case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf":
                if case .number = value {} else { out.append("\(at(key)): must be a number") }
            case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
                if value.intValue.map({ $0 >= 0 }) != true { out.append("\(at(key)): must be a non-negative integer") }
            case "pattern", "format", "title", "description", "$schema", "$id", "$ref", "$comment":
                if value.stringValue == nil { out.append("\(at(key)): must be a string") }
            default:
                break  // annotations and keywords a config rarely needs
            }
        }
    }
}
