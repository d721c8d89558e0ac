import SwitchboardABI

/// What a plugin is: returned to the host before any other plugin code runs.
public struct PluginManifest: Sendable {
    public enum Kind: UInt32, Sendable { case connector = 1, workflow = 2 }

    /// Unique id: `[a-z0-9][a-z0-9._-]{0,63}`.
    public var id: String
    /// The plugin's own semantic version.
    public var version: String
    public var kind: Kind
    public var capabilities: Capabilities
    public var name: String?
    public var description: String?
    public var vendor: String?

    public init(id: String, version: String, kind: Kind, capabilities: Capabilities,
                name: String? = nil, description: String? = nil, vendor: String? = nil) {
        self.id = id
        self.version = version
        self.kind = kind
        self.capabilities = capabilities
        self.name = name
        self.description = description
        self.vendor = vendor
    }
}

/// Which optional operations a plugin implements and which host services it needs (`SB_CAP_*`).
public struct Capabilities: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let check = Capabilities(rawValue: 1 << 0)
    public static let discover = Capabilities(rawValue: 1 << 1)
    public static let read = Capabilities(rawValue: 1 << 2)
    public static let write = Capabilities(rawValue: 1 << 3)
    public static let webhook = Capabilities(rawValue: 1 << 4)
    public static let onEvent = Capabilities(rawValue: 1 << 5)
    public static let hostEgress = Capabilities(rawValue: 1 << 6)
    /// The plugin needs secret values in its own memory; the operator must allow it.
    public static let rawSecrets = Capabilities(rawValue: 1 << 7)
    /// `fetch`: one record as the source holds it now (ABI 1.1; a 1.0 host refuses a manifest that declares it).
    public static let fetch = Capabilities(rawValue: 1 << 8)
}
