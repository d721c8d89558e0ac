import Foundation
import SwitchboardCore

/// The publisher keys one host trusts, each for the package ids under its prefixes (docs/PACKAGES.md,
/// "The trust store"): a JSON file, rewritten whole and atomically on each change.
public struct TrustStore: Sendable {
    public struct Entry: Sendable {
        public var key: PublisherKey
        public var prefixes: [String]
        public var revokedReason: String?
        public var revoked: Bool { revokedReason != nil }
    }

    public let path: String
    public private(set) var entries: [Entry]

    /// Opens the store at `path`; a missing file is an empty store.
    public init(path: String) throws(PackageError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            entries = []
            return
        }
        guard let json = try? JSON.parse(Array(data)), let keys = json["keys"]?.arrayValue else {
            throw PackageError(.invalidSource, "\(path) is not a trust store ({\"keys\": [...]})")
        }
        var loaded: [Entry] = []
        for item in keys {
            let key = try PublisherKey(json: item, source: path)
            loaded.append(Entry(key: key, prefixes: (item["prefixes"]?.arrayValue ?? []).compactMap(\.stringValue),
                                revokedReason: item["revoked"]?.stringValue))
        }
        entries = loaded
    }

    public func entry(keyID: String) -> Entry? { entries.first { $0.key.keyID == keyID } }

    /// Trusts `key` for ids under `prefixes` (default: its publisher's, `P.`).
    public mutating func add(_ key: PublisherKey, prefixes: [String]) throws {
        guard entry(keyID: key.keyID) == nil else { throw PackageError(.invalidSource, "key \(key.keyID) is already in \(path)") }
        let scopes = prefixes.isEmpty ? [key.publisher + "."] : prefixes
        for prefix in scopes where prefix.isEmpty || !prefix.hasSuffix(".") {
            throw PackageError(.invalidSource, "prefix \"\(prefix)\" must end with a dot (e.g. \(key.publisher).)")
        }
        entries.append(Entry(key: key, prefixes: scopes, revokedReason: nil))
        try save()
    }

    public mutating func remove(keyID: String) throws {
        guard entry(keyID: keyID) != nil else { throw PackageError(.invalidSource, "no key \(keyID) in \(path)") }
        entries.removeAll { $0.key.keyID == keyID }
        try save()
    }

    /// Keeps the key, marked revoked: its packages are then refused as revoked, not as unknown.
    public mutating func revoke(keyID: String, reason: String) throws {
        guard let index = entries.firstIndex(where: { $0.key.keyID == keyID }) else { throw PackageError(.invalidSource, "no key \(keyID) in \(path)") }
        entries[index].revokedReason = reason.isEmpty ? "revoked" : reason
        try save()
    }

    func save() throws {
        let json = JSON.object([("keys", .array(entries.map { entry in
            var fields = entry.key.json.objectValue ?? []
            fields.append(("prefixes", .array(entry.prefixes.map { .string($0) })))
            if let reason = entry.revokedReason { fields.append(("revoked", .string(reason))) }
            return .object(fields)
        }))])
        try Data(json.bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
