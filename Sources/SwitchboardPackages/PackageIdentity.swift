import SwitchboardCore

/// What a package says about itself, the same in its source (`package.yaml`), its manifest and a repository's index
/// entry: one type, so the three cannot drift apart (docs/PACKAGES.md). The three reach its fields directly
/// (`manifest.id`) through dynamic member lookup.
public struct PackageIdentity: Sendable {
    public var id: String
    public var version: String
    /// connector | workflow | accelerator
    public var kind: String
    public var publisher: String
    public var description: String
    public var licence: String
    public var abiMajor: Int
    public var abiMinMinor: Int
    public var canonicalModel: Int
    /// The host versions it runs on, a semver range.
    public var host: String
    public var dependencies: [PackageSource.Dependency]

    public init(id: String, version: String, kind: String, publisher: String, description: String, licence: String, abiMajor: Int,
                abiMinMinor: Int, canonicalModel: Int, host: String, dependencies: [PackageSource.Dependency]) {
        (self.id, self.version, self.kind, self.publisher, self.description, self.licence) = (id, version, kind, publisher, description, licence)
        (self.abiMajor, self.abiMinMinor, self.canonicalModel, self.host, self.dependencies) = (abiMajor, abiMinMinor, canonicalModel, host, dependencies)
    }

    public var semanticVersion: SemanticVersion? { SemanticVersion(version) }

    /// Its members as canonical JSON fields (the manifest and the index entry add their own, then sort).
    var fields: [(String, JSON)] {
        [
            ("id", .string(id)), ("version", .string(version)), ("kind", .string(kind)), ("publisher", .string(publisher)),
            ("description", .string(description)), ("licence", .string(licence)),
            ("abi", canonicalObject([("major", .number("\(abiMajor)")), ("min_minor", .number("\(abiMinMinor)"))])),
            ("canonical_model", .number("\(canonicalModel)")), ("host", .string(host)),
            ("dependencies", .array(dependencies.map { canonicalObject([("id", .string($0.id)), ("range", .string($0.range))]) })),
        ]
    }

    /// Read back from those fields; nil names the first one missing. `strict`: every field must be there (a
    /// manifest); else only id and version (an index entry from an older publisher).
    init(json j: JSON, strict: Bool) throws(PackageError) {
        func text(_ key: String, required: Bool) throws(PackageError) -> String {
            if let value = j[key]?.stringValue { return value }
            if required { throw PackageError(.malformed, "\(key) is missing") }
            return ""
        }
        func int(_ value: JSON?, _ key: String) throws(PackageError) -> Int {
            if let n = value?.intValue { return n }
            if strict { throw PackageError(.malformed, "\(key) is missing") }
            return 0
        }
        id = try text("id", required: true)
        version = try text("version", required: true)
        guard PackageSource.validID(id), SemanticVersion(version) != nil else { throw PackageError(.malformed, "id or version is invalid") }
        kind = try text("kind", required: strict)
        publisher = try text("publisher", required: strict)
        description = try text("description", required: strict)
        licence = try text("licence", required: strict)
        abiMajor = try int(j["abi"]?["major"], "abi.major")
        abiMinMinor = try int(j["abi"]?["min_minor"], "abi.min_minor")
        canonicalModel = try int(j["canonical_model"], "canonical_model")
        host = try text("host", required: strict)
        dependencies = (j["dependencies"]?.arrayValue ?? []).compactMap { d in
            d["id"]?.stringValue.flatMap { id in d["range"]?.stringValue.map { PackageSource.Dependency(id: id, range: $0) } }
        }
    }
}

/// A JSON object with its keys in byte order: the same content is the same bytes.
func canonicalObject(_ pairs: [(String, JSON)]) -> JSON { .object(pairs.sorted { $0.0 < $1.0 }) }
