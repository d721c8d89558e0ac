import Foundation
import SwitchboardCore
import SwitchboardPackages

/// The repositories one host installs from, each pinned to its index key, with the highest index serial seen from
/// it (docs/PACKAGES.md): `sources.json`, rewritten whole and atomically.
public struct PackageSources: Sendable {
    public struct Source: Sendable {
        public var name: String
        /// A directory or an http(s) URL.
        public var location: String
        public var key: PublisherKey
        /// The highest serial seen, and the digest of that index: an older (or different, same-serial) one is a replay.
        public var serial: Int?
        public var sha256: String?
    }

    public let path: String
    public private(set) var sources: [Source]

    /// Opens `path`; a missing file is no sources.
    public init(path: String) throws(PackageError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            sources = []
            return
        }
        guard let json = try? JSON.parse(Array(data)), let list = json["sources"]?.arrayValue else {
            throw PackageError(.invalidSource, "\(path) is not a sources file ({\"sources\": [...]})")
        }
        var loaded: [Source] = []
        for item in list {
            guard let name = item["name"]?.stringValue, let location = item["location"]?.stringValue, let key = item["key"] else {
                throw PackageError(.invalidSource, "\(path): a source lacks name, location or key")
            }
            loaded.append(Source(name: name, location: location, key: try PublisherKey(json: key, source: path),
                                 serial: item["serial"]?.intValue, sha256: item["sha256"]?.stringValue))
        }
        sources = loaded
    }

    public func source(named name: String) -> Source? { sources.first { $0.name == name } }

    /// Adds a source after fetching and checking its index once (a wrong key or location fails now, not at install).
    public mutating func add(name: String, location: String, key: PublisherKey) async throws(PackageError) -> RepositoryIndex {
        guard PackageSource.validID(name + ".x") else { throw PackageError(.invalidSource, "source name \"\(name)\" must be lowercase [a-z0-9-]") }
        guard source(named: name) == nil else { throw PackageError(.invalidSource, "a source named \(name) exists in \(path); remove it first") }
        sources.append(Source(name: name, location: location, key: key, serial: nil, sha256: nil))
        do {
            return try await index(of: name)
        } catch {
            sources.removeAll { $0.name == name }
            throw error
        }
    }

    public mutating func remove(name: String) throws {
        guard source(named: name) != nil else { throw PackageError(.invalidSource, "no source \(name) in \(path)") }
        sources.removeAll { $0.name == name }
        try save()
    }

    /// Fetches and checks the source's index (signature, digest, serial, expiry) and records its serial.
    public mutating func index(of name: String, now: Date = Date()) async throws(PackageError) -> RepositoryIndex {
        guard let at = sources.firstIndex(where: { $0.name == name }) else { throw PackageError(.invalidSource, "no source \(name) in \(path)") }
        let source = sources[at]
        let bytes = try await RepositoryFetch.fetch(source.location, "index.json", maxBytes: RepositoryIndex.maxBytes)
        let signature = try await RepositoryFetch.fetch(source.location, "index.json.sig", maxBytes: 64 * 1024)
        let (index, sha) = try IndexSigning.verify(indexBytes: bytes, signatureBytes: signature, key: source.key, source: "source \(name) (\(source.location))",
                                                   lastSerial: source.serial, lastSHA256: source.sha256, now: now)
        sources[at].serial = index.serial
        sources[at].sha256 = sha
        do { try save() } catch { throw PackageError(.io, "\(path) cannot be written: \(error)") }
        return index
    }

    /// Every source's checked index; a source that fails is reported, not silently skipped.
    public mutating func indexes(now: Date = Date()) async -> [(source: Source, result: Result<RepositoryIndex, PackageError>)] {
        var out: [(Source, Result<RepositoryIndex, PackageError>)] = []
        for source in sources {
            do { out.append((source, .success(try await index(of: source.name, now: now)))) } catch { out.append((source, .failure(error))) }
        }
        return out
    }

    /// Every version every source offers; a source that cannot be read (or is refused) is a warning, not a stop.
    public mutating func available(now: Date = Date()) async -> (packages: [AvailablePackage], warnings: [String]) {
        var out: [AvailablePackage] = []
        var warnings: [String] = []
        for (source, result) in await indexes(now: now) {
            switch result {
            case .success(let index): out += index.entries.map { AvailablePackage(entry: $0, source: source.name, location: source.location) }
            case .failure(let error): warnings.append("source \(source.name): \(error)")
            }
        }
        return (out, warnings)
    }

    func save() throws {
        let json = JSON.object([("sources", .array(sources.map { s in
            var fields: [(String, JSON)] = [("name", .string(s.name)), ("location", .string(s.location)), ("key", s.key.json)]
            if let serial = s.serial { fields.append(("serial", .number("\(serial)"))) }
            if let sha = s.sha256 { fields.append(("sha256", .string(sha))) }
            return .object(fields)
        }))])
        try Data(json.bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
