/// The building blocks of the canonical data model. The model is defined once,
/// here in Swift; the JSON Schemas partners validate against
/// (PluginSDK/schemas/v1) are generated from it and a test keeps them in sync.
public indirect enum FieldType: Sendable {
    /// The longest id `identifier` accepts, in characters (Unicode scalars, as JSON Schema's maxLength counts).
    public static let identifierMaxLength = 512

    case string
    case integer
    case number
    case boolean
    /// A decimal as a string: `-?[0-9]+(\.[0-9]+)?` (never a binary float).
    case decimal
    /// `{"amount": decimal, "currency": ISO 4217}`.
    case money
    /// ISO 4217 alphabetic code, e.g. `EUR`.
    case currency
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    case country
    /// ISO 8601 calendar date `YYYY-MM-DD`.
    case date
    /// ISO 8601 / RFC 3339 date-time with offset, e.g. `2026-11-27T10:15:00Z`.
    case dateTime
    case email
    /// A record's id in a system: a string of at most `FieldType.identifierMaxLength` characters. Ids become
    /// index keys (event dedupe, ledger, xref); PostgreSQL refuses an index entry over ~2.7 KB, and one such
    /// record would fail its whole ingest batch, so an overlong id is a field error of that record instead.
    case identifier
    /// The external id of another record of the named entity at the same source.
    case reference(String)
    case enumeration([String])
    case object([Field])
    case array(FieldType)
    /// Free-form JSON object (custom fields).
    case anyObject
}

public struct Field: Sendable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    public var description: String

    public init(_ name: String, _ type: FieldType, required: Bool = false, _ description: String = "") {
        self.name = name
        self.type = type
        self.required = required
        self.description = description
    }
}

/// One canonical entity (Account, Invoice, ...).
public struct EntityType: Sendable {
    public var name: String
    public var description: String
    /// Fields beyond the envelope every record carries.
    public var fields: [Field] { didSet { allFields = CanonicalModel.envelope + fields } }
    /// The money field that measures what a stuck record blocks (exception queue impact).
    public var impactField: String?
    /// The envelope every canonical record carries, plus the entity's fields. Kept, not concatenated per use:
    /// every record validated reads it (twice per event on the hot path).
    public private(set) var allFields: [Field]

    public init(_ name: String, _ description: String, impact: String? = nil, _ fields: [Field]) {
        self.name = name
        self.description = description
        self.fields = fields
        self.impactField = impact
        allFields = CanonicalModel.envelope + fields
    }
}

/// One canonical business event and the entity its `data` holds.
public struct EventType: Sendable {
    public var name: String
    public var entity: String
    public var description: String
}
