import Crypto
import Foundation
import SwitchboardCore

/// `manifest.json`, what a package says about itself (docs/PACKAGES.md): written from `package.yaml` by the
/// builder as canonical JSON (sorted keys), read back and checked by the reader.
@dynamicMemberLookup
public struct PackageManifest: Sendable {
    public struct File: Sendable { public var path: String; public var sha256: String; public var size: Int }

    public var identity: PackageIdentity
    public subscript<T>(dynamicMember keyPath: KeyPath<PackageIdentity, T>) -> T { identity[keyPath: keyPath] }
    /// Platform -> archive paths of its plugin files.
    public var plugins: [String: [String]]
    public var files: [File]

    init(source: PackageSource, files: [(String, [UInt8])]) {
        identity = source.identity
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
        do { identity = try PackageIdentity(json: json, strict: true) } catch { throw PackageError(.malformed, "manifest.json: \(error.message)") }
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
        canonicalObject(identity.fields + [
            ("schema", .number("1")),
            ("plugins", canonicalObject(plugins.map { ($0.key, JSON.array($0.value.map { .string($0) })) })),
            ("files", .array(files.map { canonicalObject([("path", .string($0.path)), ("sha256", .string($0.sha256)), ("size", .number("\($0.size)"))]) })),
        ])
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
