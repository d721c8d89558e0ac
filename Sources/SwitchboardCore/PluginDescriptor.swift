/// What the host knows of a plugin from its manifest, validated.
public struct PluginDescriptor: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case connector, workflow }

    public var id: String
    public var version: String
    public var kind: Kind
    public var capabilities: [String]
    public var name: String?
    public var description: String?
    public var vendor: String?
    /// The ABI the plugin was built against.
    public var abiMajor: Int
    public var abiMinor: Int

    public init(id: String, version: String, kind: Kind, capabilities: [String], name: String?, description: String?,
                vendor: String?, abiMajor: Int, abiMinor: Int) {
        self.id = id
        self.version = version
        self.kind = kind
        self.capabilities = capabilities
        self.name = name
        self.description = description
        self.vendor = vendor
        self.abiMajor = abiMajor
        self.abiMinor = abiMinor
    }

    /// Plugin ids are stable names used in configuration: `[a-z0-9][a-z0-9._-]{0,63}`.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func ok(_ b: UInt8, first: Bool) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || (!first && (b == 0x2E || b == 0x5F || b == 0x2D))
        }
        return bytes.enumerated().allSatisfy { ok($0.element, first: $0.offset == 0) }
    }
}
