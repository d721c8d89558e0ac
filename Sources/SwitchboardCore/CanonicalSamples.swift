/// A minimal valid record of any canonical entity: every required field with
/// a plausible value. Conformance tests write these to a connector, and fuzz
/// from them.
public enum CanonicalSamples {
    public static func record(entity: String, externalID: String = "sample-1", tenant: String = "conformance",
                              source: String = "conformance") -> JSON? {
        guard let type = CanonicalModel.entity(entity) else { return nil }
        var members: [(String, JSON)] = []
        for field in type.allFields where field.required {
            switch field.name {
            case "tenant": members.append((field.name, .string(tenant)))
            case "source": members.append((field.name, .string(source)))
            case "external_id": members.append((field.name, .string(externalID)))
            default: members.append((field.name, value(field.type, name: field.name)))
            }
        }
        return .object(members)
    }

    static func value(_ type: FieldType, name: String) -> JSON {
        switch type {
        case .string: .string("Sample \(name)")
        case .reference: .string("ref-1")
        case .identifier: .string("\(name)-1")
        case .integer: .number("1")
        case .number: .number("1.5")
        case .boolean: .bool(true)
        case .decimal: .string("10.00")
        case .money: .object([("amount", .string("100.00")), ("currency", .string("EUR"))])
        case .currency: .string("EUR")
        case .country: .string("DE")
        case .date: .string("2026-11-27")
        case .dateTime: .string("2026-11-27T10:00:00Z")
        case .email: .string("sample@example.com")
        case .enumeration(let allowed): .string(allowed.first ?? "")
        case .object(let fields): .object(fields.filter(\.required).map { ($0.name, value($0.type, name: $0.name)) })
        case .array(let element): .array([value(element, name: name)])
        case .anyObject: .object([])
        }
    }
}
