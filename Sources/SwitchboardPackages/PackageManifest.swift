import Crypto
import Foundation
import SwitchboardCore

/// `manifest.json`, what a package says about itself (docs/PACKAGES.md): written from `package.yaml` by the
/// builder as canonical JSON (sorted keys), read back and checked by the reader.
public struct PackageManifest: Sendable {
    public struct File: Sendable { public var path: String; public var sha256: String; public var size: Int }

    public var id: String
    public var version: String
    public var kind: String
    public var publisher: String
    public var description: String
    public var licence: String
    public var abiMajor: Int
    public var abiMinMinor: Int
    public var canonicalModel: Int
    public var host: String
    public var dependencies: [(id: String, range: String)]
    /// Platform -> archive paths of its plugin files.
    public var plugins: [String: [String]]
    public var files: [File]

    init(source: PackageSource, files: [(String, [UInt8])]) {
        id = source.id
        version = source.version
        kind = source.kind.rawValue
        publisher = source.publisher
        description = source.description
        licence = source.licence
        abiMajor = source.abiMajor
        abiMinMinor = source.abiMinMinor
        canonicalModel = source.canonicalModel
        host = source.host
        dependencies = source.dependencies.map { ($0.id, $0.range) }
        plugins = [:]
        for (platform, paths) in source.plugins {
            plugins[platform] = paths.map { "plugins/\(platform)/\($0.split(separator: "/").last.map(String.init) ?? $0)" }.sorted()
        }
        self.files = files.map { File(path: $0.0, sha256: Self.hex(SHA256.hash(data: $0.1)), size: $0.1.count) }
    }

    public init(bytes: [UInt8]) throws(PackageError) {
        guard let json = try? JSON.parse(bytes), case .object = json else {
            throw PackageError(.malformed, "manifest.json is not a JSON object")
        }
        func text(_ key: String) throws(PackageError) -> String {
            guard let value = json[key]?.stringValue else { throw PackageError(.malformed, "manifest.json: \(key) is missing") }
            return value
        }
        func int(_ value: JSON?, _ key: String) throws(PackageError) -> Int {
            guard let n = value?.intValue else { throw PackageError(.malformed, "manifest.json: \(key) is missing") }
            return n
        }
        id = try text("id")
        version = try text("version")
        guard PackageSource.validID(id), SemanticVersion(version) != nil else { throw PackageError(.malformed, "manifest.json: id or version is invalid") }
        kind = try text("kind")
        publisher = try text("publisher")
        description = try text("description")
        licence = try text("licence")
        abiMajor = try int(json["abi"]?["major"], "abi.major")
        abiMinMinor = try int(json["abi"]?["min_minor"], "abi.min_minor")
        canonicalModel = try int(json["canonical_model"], "canonical_model")
        host = try text("host")
        dependencies = (json["dependencies"]?.arrayValue ?? []).compactMap { d in
            d["id"]?.stringValue.flatMap { id in d["range"]?.stringValue.map { (id, $0) } }
        }
        plugins = [:]
        for (platform, list) in json["plugins"]?.objectValue ?? [] { plugins[platform] = (list.arrayValue ?? []).compactMap(\.stringValue) }
        var parsed: [File] = []
        for file in json["files"]?.arrayValue ?? [] {
            guard let path = file["path"]?.stringValue, let sha = file["sha256"]?.stringValue, let size = file["size"]?.intValue else {
                throw PackageError(.malformed, "manifest.json: a file entry lacks path, sha256 or size")
            }
            parsed.append(File(path: path, sha256: sha, size: size))
        }
        files = parsed
    }

    /// Canonical JSON: keys in byte order, so the same manifest is the same bytes.
    public var json: JSON {
        func sorted(_ pairs: [(String, JSON)]) -> JSON { .object(pairs.sorted { $0.0 < $1.0 }) }
        return sorted([
            ("schema", .number("1")), ("id", .string(id)), ("version", .string(version)), ("kind", .string(kind)),
            ("publisher", .string(publisher)), ("description", .string(description)), ("licence", .string(licence)),
            ("abi", sorted([("major", .number("\(abiMajor)")), ("min_minor", .number("\(abiMinMinor)"))])),
            ("canonical_model", .number("\(canonicalModel)")), ("host", .string(host)),
            ("dependencies", .array(dependencies.map { sorted([("id", .string($0.id)), ("range", .string($0.range))]) })),
            ("plugins", sorted(plugins.map { ($0.key, JSON.array($0.value.map { .string($0) })) })),
            ("files", .array(files.map { sorted([("path", .string($0.path)), ("sha256", .string($0.sha256)), ("size", .number("\($0.size)"))]) })),
        ])
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
