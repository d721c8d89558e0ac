import Crypto
import Foundation
import SwitchboardCore

/// A repository's catalogue, `index.json` (docs/PACKAGES.md, "Repositories and the signed index"): every
/// published version with what a host needs to choose one before fetching it.
public struct RepositoryIndex: Sendable {
    /// One published version of one package.
    @dynamicMemberLookup
    public struct Entry: Sendable {
        public var identity: PackageIdentity
        public subscript<T>(dynamicMember keyPath: KeyPath<PackageIdentity, T>) -> T { identity[keyPath: keyPath] }
        public var platforms: [String]
        /// Relative to the repository's root.
        public var archive: String
        public var sha256: String
        public var size: Int
        /// The package's detached signature (its `.sig` file), by its publisher's key.
        public var signature: JSON

        public init(identity: PackageIdentity, platforms: [String], archive: String, sha256: String, size: Int, signature: JSON) {
            (self.identity, self.platforms, self.archive, self.sha256, self.size, self.signature) = (identity, platforms, archive, sha256, size, signature)
        }
    }

    public static let maxBytes = 8 << 20
    public var name: String
    public var serial: Int
    /// ISO 8601, UTC.
    public var expires: String
    public var entries: [Entry]

    public init(name: String, serial: Int, expires: String, entries: [Entry]) {
        self.name = name
        self.serial = serial
        self.expires = expires
        self.entries = entries
    }

    public var expiryDate: Date? { ISO8601DateFormatter().date(from: expires) }

    /// The versions of `id`, newest first.
    public func versions(of id: String) -> [Entry] {
        entries.filter { $0.id == id }.sorted { a, b in
            guard let x = a.semanticVersion, let y = b.semanticVersion else { return a.version > b.version }
            return VersionRange.compare(x, y) > 0
        }
    }

    public init(bytes: [UInt8], source: String) throws(PackageError) {
        guard bytes.count <= Self.maxBytes, let json = try? JSON.parse(bytes), json["format"]?.intValue == 1,
              let name = json["name"]?.stringValue, let serial = json["serial"]?.intValue, let expires = json["expires"]?.stringValue,
              let packages = json["packages"]?.arrayValue else {
            throw PackageError(.malformed, "\(source) is not a repository index (format 1, name, serial, expires, packages)")
        }
        var entries: [Entry] = []
        for item in packages {
            guard let entry = Entry(json: item) else { throw PackageError(.malformed, "\(source): a package entry lacks a field (id, version, sha256, size, archive, signature)") }
            entries.append(entry)
        }
        self.init(name: name, serial: serial, expires: expires, entries: entries)
    }

    /// Canonical JSON (sorted keys, entries by id then version): the bytes the repository key signs.
    public var json: JSON {
        canonicalObject([("format", .number("1")), ("name", .string(name)), ("serial", .number("\(serial)")), ("expires", .string(expires)),
                ("packages", .array(entries.sorted { ($0.id, $0.version) < ($1.id, $1.version) }.map(\.json)))])
    }
}


extension RepositoryIndex.Entry {
    /// The index entry of a verified package archive of `size` bytes, published at `archive` with `signature`.
    public init(manifest m: PackageManifest, archive: String, sha256: String, size: Int, signature: JSON) {
        self.init(identity: m.identity, platforms: m.plugins.keys.sorted(), archive: archive, sha256: sha256, size: size, signature: signature)
    }

    init?(json j: JSON) {
        guard let identity = try? PackageIdentity(json: j, strict: false), let sha = j["sha256"]?.stringValue, let size = j["size"]?.intValue,
              let archive = j["archive"]?.stringValue, let signature = j["signature"], case .object = signature else { return nil }
        self.init(identity: identity, platforms: (j["platforms"]?.arrayValue ?? []).compactMap(\.stringValue), archive: archive, sha256: sha,
                  size: size, signature: signature)
    }

    var json: JSON {
        canonicalObject(identity.fields + [
            ("platforms", .array(platforms.map { .string($0) })), ("archive", .string(archive)), ("sha256", .string(sha256)),
            ("size", .number("\(size)")), ("signature", signature),
        ])
    }
}

/// Signing and checking an index with a repository key (docs/PACKAGES.md): the signature covers the serial and
/// the SHA-256 of `index.json`'s bytes.
public enum IndexSigning {
    static func message(serial: Int, sha256: String) -> Data { Data("switchboard-index-v1\n\(serial)\n\(sha256)\n".utf8) }

    /// The signature file of `indexBytes` (serial `serial`) by the private key in `keyFile`.
    public static func sign(indexBytes: [UInt8], serial: Int, keyFile: String) throws(PackageError) -> JSON {
        let (privateKey, _) = try PackageSigning.privateKey(file: keyFile)
        let sha = PackageManifest.hex(SHA256.hash(data: indexBytes))
        guard let signature = try? privateKey.signature(for: message(serial: serial, sha256: sha)) else {
            throw PackageError(.io, "signing with \(keyFile) failed")
        }
        return canonicalObject([("algorithm", .string("ed25519")), ("key_id", .string(PublisherKey.keyID(privateKey.publicKey.rawRepresentation))),
                       ("serial", .number("\(serial)")), ("sha256", .string(sha)), ("signature", .string(signature.base64EncodedString()))])
    }

    /// Checks an index fetched from a source pinned to `key`, against the highest serial (and its digest) seen
    /// before and the time now; returns the index. Refuses in the documented order.
    public static func verify(indexBytes: [UInt8], signatureBytes: [UInt8], key: PublisherKey, source: String,
                              lastSerial: Int?, lastSHA256: String?, now: Date = Date()) throws(PackageError) -> (index: RepositoryIndex, sha256: String) {
        guard signatureBytes.count <= 64 * 1024, let sig = try? JSON.parse(signatureBytes), sig["algorithm"]?.stringValue == "ed25519",
              let keyID = sig["key_id"]?.stringValue, let serial = sig["serial"]?.intValue, let covered = sig["sha256"]?.stringValue,
              let encoded = sig["signature"]?.stringValue, let signature = Data(base64Encoded: encoded) else {
            throw PackageError(.badSignature, "\(source): index.json.sig is not an index signature; the repository must be re-signed (switchboard market publish)")
        }
        guard keyID == key.keyID, key.publicKey.isValidSignature(signature, for: message(serial: serial, sha256: covered)) else {
            throw PackageError(.badSignature, "\(source): the index is not signed by the key pinned for this source (\(key.keyID)); it was signed by \(keyID). If the repository changed its key, add the source again with its new key")
        }
        let sha = PackageManifest.hex(SHA256.hash(data: indexBytes))
        guard sha == covered else {
            throw PackageError(.tampered, "\(source): index.json's SHA-256 is \(sha), but its signature covers \(covered): the index changed after it was signed")
        }
        let index = try RepositoryIndex(bytes: indexBytes, source: "\(source)/index.json")
        guard index.serial == serial else { throw PackageError(.malformed, "\(source): the index says serial \(index.serial), its signature \(serial)") }
        if let lastSerial, serial < lastSerial || (serial == lastSerial && lastSHA256 != nil && lastSHA256 != sha) {
            throw PackageError(.replayed, "\(source): the index has serial \(serial), but this host has seen serial \(lastSerial)\(serial == lastSerial ? " with other contents" : ""): an old index is being replayed (a stale mirror or an attacker); try again later or check the source")
        }
        guard let expiry = index.expiryDate else { throw PackageError(.malformed, "\(source): the index's expires \"\(index.expires)\" is not an ISO 8601 time") }
        guard expiry > now else {
            throw PackageError(.expired, "\(source): the index expired at \(index.expires); the repository's owner must publish (re-sign) it again")
        }
        return (index, sha)
    }
}
