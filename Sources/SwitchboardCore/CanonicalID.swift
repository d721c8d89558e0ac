/// Canonical ids of records: `entity:source:external id`, naming the connection
/// where the record was first seen (scoped by tenant). Readable, and the ids of
/// one source sort together, so a batch's index entries land on adjacent pages.
/// Ids made before this form (`entity_` + a hash) stay valid where xref holds them.
public enum CanonicalID {
    /// The canonical id of a record first seen at `source` with `externalID`.
    public static func make(entity: String, source: String, externalID: String) -> String {
        "\(entity.lowercased()):\(source):\(externalID)"
    }

    /// The connection and external id a canonical id of this form names, so the
    /// origin's side of a link need not be stored. Nil for ids of another form and
    /// for records that came from a workflow (`workflow:ID` sources are no connection).
    public static func origin(of id: String, entity: String) -> (connection: String, externalID: String)? {
        let prefix = entity.lowercased() + ":"
        guard id.hasPrefix(prefix) else { return nil }
        let rest = id.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let connection = String(rest[..<colon])
        let externalID = String(rest[rest.index(after: colon)...])
        guard connection != reservedSource, PluginDescriptor.isValidID(connection), !externalID.isEmpty else { return nil }
        return (connection, externalID)
    }

    /// The source prefix of events that workflows emit (`workflow:ID`); no connection may take it as its id.
    public static let reservedSource = "workflow"

    /// The source of what workflow `id` emits, and the name its plugin's state is kept under.
    public static func workflowSource(_ id: String) -> String { "\(reservedSource):\(id)" }

    /// Whether a source is a workflow's rather than a connection's.
    public static func isWorkflowSource(_ source: String) -> Bool { source.hasPrefix(reservedSource + ":") }
}
