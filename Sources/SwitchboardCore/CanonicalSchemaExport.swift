/// Generates the JSON Schemas (draft 2020-12) of the canonical model that ship
/// in PluginSDK/schemas/v1, so partners can validate with any tool.
public enum CanonicalSchemaExport {
    static let base = "https://switchboard.dev/schemas/v1/"

    /// File name -> pretty JSON text, for every entity and event.
    public static func files() -> [(name: String, text: String)] {
        var out: [(String, String)] = []
        for entity in CanonicalModel.entities {
            out.append(("\(entity.name).schema.json", pretty(entitySchema(entity))))
        }
        for event in CanonicalModel.events {
            out.append(("events/\(event.name).schema.json", pretty(eventSchema(event))))
        }
        return out
    }

    static func entitySchema(_ entity: EntityType) -> JSON {
        var schema = objectSchema(entity.allFields)
        schema = .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string(base + entity.name + ".schema.json")),
            ("title", .string(entity.name)),
            ("description", .string(entity.description)),
        ] + (schema.objectValue ?? []))
        return schema
    }

    static func eventSchema(_ event: EventType) -> JSON {
        .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string(base + "events/" + event.name + ".schema.json")),
            ("title", .string(event.name)),
            ("description", .string(event.description + ". The event carries the \(event.entity) record.")),
            ("$ref", .string(base + event.entity + ".schema.json")),
        ])
    }

    static func objectSchema(_ fields: [Field]) -> JSON {
        .object([
            ("type", .string("object")),
            ("additionalProperties", .bool(false)),
            ("required", .array(fields.filter(\.required).map { .string($0.name) })),
            ("properties", .object(fields.map { field in
                var schema = typeSchema(field.type)
                if !field.description.isEmpty { schema = schema.setting("description", .string(field.description)) }
                return (field.name, schema)
            })),
        ])
    }

    static func typeSchema(_ type: FieldType) -> JSON {
        switch type {
        case .string: return .object([("type", .string("string"))])
        case .integer: return .object([("type", .string("integer"))])
        case .number: return .object([("type", .string("number"))])
        case .boolean: return .object([("type", .string("boolean"))])
        case .decimal: return .object([("type", .string("string")), ("pattern", .string("^-?[0-9]+(\\.[0-9]+)?$"))])
        case .money: return objectSchema([Field("amount", .decimal, required: true), Field("currency", .currency, required: true)])
        case .currency: return .object([("type", .string("string")), ("pattern", .string("^[A-Z]{3}$"))])
        case .country: return .object([("type", .string("string")), ("pattern", .string("^[A-Z]{2}$"))])
        case .date: return .object([("type", .string("string")), ("format", .string("date"))])
        case .dateTime: return .object([("type", .string("string")), ("format", .string("date-time"))])
        case .email: return .object([("type", .string("string")), ("format", .string("email"))])
        case .identifier: return .object([("type", .string("string")), ("maxLength", .number("\(FieldType.identifierMaxLength)"))])
        case .reference(let entity):
            return .object([("type", .string("string")), ("description", .string("external id of a \(entity)"))])
        case .enumeration(let values): return .object([("enum", .array(values.map { .string($0) }))])
        case .object(let fields): return objectSchema(fields)
        case .array(let element): return .object([("type", .string("array")), ("items", typeSchema(element))])
        case .anyObject: return .object([("type", .string("object"))])
        }
    }

    /// Two-space indented JSON with a trailing newline (stable for diffs).
    public static func pretty(_ value: JSON, indent: String = "") -> String {
        func render(_ v: JSON, _ ind: String) -> String {
            let inner = ind + "  "
            switch v {
            case .array(let items) where !items.isEmpty:
                return "[\n" + items.map { inner + render($0, inner) }.joined(separator: ",\n") + "\n" + ind + "]"
            case .object(let members) where !members.isEmpty:
                return "{\n" + members.map { inner + JSON.string($0.0).text + ": " + render($0.1, inner) }.joined(separator: ",\n")
                    + "\n" + ind + "}"
            default:
                return v.text
            }
        }
        return render(value, indent) + "\n"
    }
}
