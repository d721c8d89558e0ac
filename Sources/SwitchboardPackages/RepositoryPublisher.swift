import Crypto
import Foundation
import SwitchboardCore

/// `switchboard market publish`: puts a signed package into a repository directory and re-signs its index
/// (docs/PACKAGES.md, "Repositories and the signed index").
public enum RepositoryPublisher {
    /// Publishes `package` (with its `.sig`) into `repository`; returns the new index. A version once published
    /// is immutable: the same bytes again only re-sign the index, other bytes are refused.
    @discardableResult
    public static func publish(package path: String, repository: String, keyFile: String, expiresInMillis: Int64,
                               now: Date = Date()) throws -> RepositoryIndex {
        guard let archive = FileManager.default.contents(atPath: path) else { throw PackageError(.io, "\(path) cannot be read") }
        let contents = try PackageReader.read(path: path)
        let manifest = contents.manifest
        let sha = PackageManifest.hex(SHA256.hash(data: archive))
        guard let sigData = FileManager.default.contents(atPath: path + ".sig"), let signature = try? JSON.parse(Array(sigData)),
              signature["sha256"]?.stringValue == sha, signature["id"]?.stringValue == manifest.id,
              signature["version"]?.stringValue == manifest.version else {
            throw PackageError(.unsigned, "\(path) has no signature of its own bytes (\(path).sig): a repository holds only packages their publisher signed (switchboard package sign)")
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: repository + "/packages", withIntermediateDirectories: true)
        var index = try load(repository: repository)
            ?? RepositoryIndex(name: (repository as NSString).lastPathComponent, serial: 0, expires: "", entries: [])
        let relative = "packages/\(manifest.id)-\(manifest.version).sbpkg"
        if let existing = index.entries.first(where: { $0.id == manifest.id && $0.version == manifest.version }) {
            guard existing.sha256 == sha else {
                throw PackageError(.conflict, "\(manifest.id) \(manifest.version) is already published with other bytes (sha256 \(existing.sha256)); a published version never changes: publish a new version")
            }
        } else {
            try write(Data(archive), to: repository + "/" + relative)
            try write(sigData, to: repository + "/" + relative + ".sig")
            index.entries.append(.init(manifest: manifest, archive: relative, sha256: sha, size: archive.count, signature: signature))
        }
        // Raised on each publish, and at least the time in Unix seconds: a repository rebuilt from nothing (a
        // development build) still moves forward for hosts that saw the old one.
        index.serial = max(index.serial + 1, Int(now.timeIntervalSince1970))
        index.expires = Clock.iso8601(unixMillis: Int64(now.timeIntervalSince1970 * 1000) + expiresInMillis)
        let bytes = index.json.bytes
        let indexSignature = try IndexSigning.sign(indexBytes: bytes, serial: index.serial, keyFile: keyFile)
        // The index first, then its signature: a reader between the two renames is refused (tampered) and fetches again.
        try write(Data(bytes), to: repository + "/index.json")
        try write(Data(indexSignature.bytes), to: repository + "/index.json.sig")
        return index
    }

    /// The repository's current index, unverified (the publisher's own directory); nil when there is none yet.
    static func load(repository: String) throws(PackageError) -> RepositoryIndex? {
        guard let data = FileManager.default.contents(atPath: repository + "/index.json") else { return nil }
        return try RepositoryIndex(bytes: Array(data), source: repository + "/index.json")
    }

    static func write(_ data: Data, to path: String) throws {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
