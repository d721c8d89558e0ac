import Foundation
import SwitchboardCore

/// What each tenant runs: `PKGDIR/installed.json` (docs/PACKAGES.md, "Install per tenant"). Written whole and
/// renamed into place, so a reader sees the state before an install or after it, never between.
public struct InstalledPackages: Sendable, Equatable {
    /// One package installed for one tenant.
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var version: String
        public var sha256: String
        public var kind: String
        public var publisher: String
        /// The key that signed it; nil when the development switch let it in unsigned.
        public var signedBy: String?
        public var installedAt: String
        public var actor: String
        /// The parameters it was rendered with (an accelerator), as given.
        public var values: JSON
        /// Rendered configuration fragments, relative to PKGDIR.
        public var fragments: [String]
        /// Its plugin files for this platform, relative to PKGDIR.
        public var plugins: [String]
        /// The entry this one replaced (an upgrade), for `market rollback`; one level deep.
        public var previous: [Entry]

        public init(id: String, version: String, sha256: String, kind: String, publisher: String, signedBy: String?, installedAt: String,
                    actor: String, values: JSON, fragments: [String], plugins: [String], previous: Entry? = nil) {
            self.id = id
            self.version = version
            self.sha256 = sha256
            self.kind = kind
            self.publisher = publisher
            self.signedBy = signedBy
            self.installedAt = installedAt
            self.actor = actor
            self.values = values
            self.fragments = fragments
            self.plugins = plugins
            self.previous = previous.map { var p = $0; p.previous = []; return [p] } ?? []
        }
    }

    public static let fileName = "installed.json"
    /// Tenant id -> its packages, in install order.
    public var tenants: [String: [Entry]]

    public init(tenants: [String: [Entry]] = [:]) { self.tenants = tenants }

    public func entries(tenant: String) -> [Entry] { tenants[tenant] ?? [] }
    public func entry(tenant: String, id: String) -> Entry? { entries(tenant: tenant).first { $0.id == id } }

    /// Reads `DIR/installed.json`; a missing file is nothing installed.
    public static func load(directory: String) throws(PackageError) -> InstalledPackages {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return InstalledPackages() }
        guard let json = try? JSON.parse(Array(data)), json["format"]?.intValue == 1, let tenants = json["tenants"]?.objectValue else {
            throw PackageError(.malformed, "\(path) is not an installed-packages file (format 1); restore it from a backup or remove it and install again")
        }
        var out: [String: [Entry]] = [:]
        for (tenant, list) in tenants {
            var entries: [Entry] = []
            for item in list.arrayValue ?? [] {
                guard let entry = Entry(json: item) else { throw PackageError(.malformed, "\(path): an entry of tenant \(tenant) lacks id, version or sha256") }
                entries.append(entry)
            }
            out[tenant] = entries
        }
        return InstalledPackages(tenants: out)
    }

    /// Writes `DIR/installed.json` through a temporary file and a rename: the commit point of an install.
    public func save(directory: String) throws {
        let json = JSON.object([("format", .number("1")),
                                ("tenants", .object(tenants.keys.sorted().map { ($0, JSON.array(tenants[$0]!.map(\.json))) }))])
        try Data(json.bytes).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
    }
}

extension InstalledPackages.Entry {
    init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let version = json["version"]?.stringValue, let sha = json["sha256"]?.stringValue else { return nil }
        func strings(_ key: String) -> [String] { (json[key]?.arrayValue ?? []).compactMap(\.stringValue) }
        self.init(id: id, version: version, sha256: sha, kind: json["kind"]?.stringValue ?? "connector",
                  publisher: json["publisher"]?.stringValue ?? "", signedBy: json["signed_by"]?.stringValue,
                  installedAt: json["installed_at"]?.stringValue ?? "", actor: json["actor"]?.stringValue ?? "",
                  values: json["values"] ?? .object([]), fragments: strings("fragments"), plugins: strings("plugins"),
                  previous: json["previous"].flatMap { Self(json: $0) })
    }

    public var json: JSON {
        var fields: [(String, JSON)] = [
            ("id", .string(id)), ("version", .string(version)), ("sha256", .string(sha256)), ("kind", .string(kind)),
            ("publisher", .string(publisher)), ("signed_by", signedBy.map { .string($0) } ?? .null), ("installed_at", .string(installedAt)),
            ("actor", .string(actor)), ("values", values), ("fragments", .array(fragments.map { .string($0) })),
            ("plugins", .array(plugins.map { .string($0) })),
        ]
        if let previous = previous.first { fields.append(("previous", previous.json)) }
        return .object(fields)
    }
}
