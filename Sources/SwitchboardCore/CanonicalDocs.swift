/// Generates docs/CANONICAL.md, the canonical model for people, from the same definitions as the
/// JSON Schemas (CanonicalModel); a test keeps the shipped file equal to this output.
public enum CanonicalDocs {
    public static func markdown() -> String {
        var out = """
            # The canonical model (v\(CanonicalModel.version))

            Generated from `Sources/SwitchboardCore/CanonicalModel.swift` by `switchboard schemas docs`; the JSON
            Schemas in `PluginSDK/schemas/v1` come from the same definitions (`switchboard schemas export`), and
            `CoreModelTests.shippedCanonicalDocsMatchTheModel` keeps this file current. Do not edit it by hand.

            A field marked required inside a nested object or list (`lines[].quantity`) is required in each one given.
            Every record is a JSON object of one entity. A connector emits records with `external_id` and
            `updated_at` set; the host stamps `tenant` and `source`. A record with a member not listed for its
            entity, a required field missing or a value of the wrong format is refused as `schema_invalid`
            (the exception queue names the field). Money is never a binary float: amounts are decimal text.

            **Entities:** \(CanonicalModel.entities.map { "[\($0.name)](#\($0.name.lowercased()))" }.joined(separator: ", ")).
            **Events:** [the business events](#business-events).

            ## Fields every record carries

            \(table(CanonicalModel.envelope))

            """
        for entity in CanonicalModel.entities {
            out += """

                ## \(entity.name)

                \(entity.description). Required: \(requiredList(entity)).\(entity.impactField.map { " Its `\($0)` is the money an exception on it blocks." } ?? "")

                \(table(entity.fields))

                Example (the required fields; the envelope's `tenant` and `source` as the host stamps them):

                ```json
                \(CanonicalSchemaExport.pretty(example(entity)).dropLast())
                ```

                """
        }
        out += """

            ## Business events

            An event carries the record of its entity as its data, so its fields, rules and example are the entity's.

            | Event | Data | When |
            |---|---|---|
            \(CanonicalModel.events.map { "| `\($0.name)` | [\($0.entity)](#\($0.entity.lowercased())) | \($0.description) |" }.joined(separator: "\n"))

            """
        return out
    }

    /// The example record of an entity: every required field, valid against the model.
    public static func example(_ entity: EntityType) -> JSON {
        CanonicalSamples.record(entity: entity.name, externalID: "\(entity.name.prefix(3).uppercased())-1001", tenant: "northwind", source: "crm") ?? .object([])
    }

    static func requiredList(_ entity: EntityType) -> String {
        entity.allFields.filter(\.required).map { "`\($0.name)`" }.joined(separator: ", ")
    }

    static func table(_ fields: [Field]) -> String {
        var rows = ["| Field | Type | Required | Notes |", "|---|---|---|---|"]
        func add(_ fields: [Field], prefix: String) {
            for field in fields {
                let name = prefix + field.name
                rows.append("| `\(name)` | \(typeName(field.type)) | \(field.required ? "yes" : "") | \(field.description.isEmpty ? "" : field.description) |")
                switch field.type {
                case .object(let inner): add(inner, prefix: name + ".")
                case .array(.object(let inner)): add(inner, prefix: name + "[].")
                default: break
                }
            }
        }
        add(fields, prefix: "")
        return rows.joined(separator: "\n")
    }

    static func typeName(_ type: FieldType) -> String {
        switch type {
        case .string: "string"
        case .integer: "integer"
        case .number: "number"
        case .boolean: "boolean"
        case .decimal: "decimal as text (`-?[0-9]+(\\.[0-9]+)?`, e.g. `\"12.50\"`)"
        case .money: "money: `{\"amount\": decimal text, \"currency\": ISO 4217}`"
        case .currency: "ISO 4217 code (`EUR`)"
        case .country: "ISO 3166-1 alpha-2 code (`DE`)"
        case .date: "date `YYYY-MM-DD`"
        case .dateTime: "RFC 3339 date-time with offset (`2026-11-27T10:15:00Z`)"
        case .email: "email address"
        case .identifier: "id (string, at most \(FieldType.identifierMaxLength) characters)"
        case .reference(let entity): "external id of \("AEIOU".contains(entity.prefix(1)) ? "an" : "a") [\(entity)](#\(entity.lowercased())) at the same source"
        case .enumeration(let values): "one of " + values.map { "`\($0)`" }.joined(separator: ", ")
        case .object: "object (fields below)"
        case .array(.object): "list of objects (fields below)"
        case .array(let element): "list of " + typeName(element)
        case .anyObject: "any JSON object (passed through unvalidated)"
        }
    }
}
