import Foundation
import SwitchboardCore
import Yams

/// A package as its author describes it in `DIR/package.yaml` (docs/PACKAGES.md). Every problem is
/// reported at `package.yaml:LINE:COLUMN`, all of them at once.
@dynamicMemberLookup
public struct PackageSource: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case connector, workflow, accelerator }
    public struct Dependency: Sendable {
        public var id: String
        public var range: String
        public init(id: String, range: String) { (self.id, self.range) = (id, range) }
    }

    public var identity: PackageIdentity
    public subscript<T>(dynamicMember keyPath: KeyPath<PackageIdentity, T>) -> T { identity[keyPath: keyPath] }
    public var kind: Kind { Kind(rawValue: identity.kind)! }
    /// Platform -> files, relative to the package directory.
    public var plugins: [String: [String]]
    public var templates: String?
    public var parameters: String?

    public static let platforms = ["linux-x86_64", "linux-aarch64"]

    /// Package ids: `PUBLISHER.NAME`, lowercase segments of `[a-z0-9-]`.
    public static func validID(_ id: String) -> Bool {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLowercase && $0.isASCII || $0.isNumber && $0.isASCII || $0 == "-" } }
    }

    public static func load(directory: String) throws -> PackageSource {
        let file = directory + "/package.yaml"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw PackageError(.invalidSource, "\(file): cannot read it (a package directory holds package.yaml)")
        }
        return try parse(text, file: file, directory: directory)
    }

    static func parse(_ text: String, file: String, directory: String) throws -> PackageSource {
        let name = (file as NSString).lastPathComponent
        var problems: [String] = []
        func at(_ node: Node?) -> String { node?.mark.map { "\(name):\($0.line):\($0.column)" } ?? name }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text), case .mapping = node else { throw PackageError(.invalidSource, "\(name):1:1: not a mapping") }
            root = node
        } catch let error as PackageError { throw error } catch { throw PackageError(.invalidSource, "\(name): malformed YAML: \(error)") }
        let known: Set<String> = ["id", "version", "kind", "publisher", "description", "licence", "abi", "canonical_model", "host",
                                  "dependencies", "plugins", "templates", "parameters"]
        if let mapping = root.mapping {
            for (key, _) in mapping where !known.contains(key.string ?? "") {
                problems.append("\(at(key)): unknown field \"\(key.string ?? "")\" (known: \(known.sorted().joined(separator: ", ")))")
            }
        }
        func string(_ key: String, required: Bool = true) -> String? {
            guard let node = root[key] else {
                if required { problems.append("\(name): \(key) is required") }
                return nil
            }
            guard let value = node.string, !value.isEmpty else {
                problems.append("\(at(node)): \(key) must be a non-empty string")
                return nil
            }
            return value
        }
        let id = string("id"), version = string("version"), publisher = string("publisher")
        if let id, !validID(id) { problems.append("\(at(root["id"])): id \"\(id)\" must be PUBLISHER.NAME in lowercase [a-z0-9-] segments") }
        if let version, SemanticVersion(version) == nil { problems.append("\(at(root["version"])): version \"\(version)\" is not a semantic version") }
        if let id, let publisher, !id.hasPrefix(publisher + ".") {
            problems.append("\(at(root["publisher"])): the id \"\(id)\" must start with the publisher \"\(publisher).\"")
        }
        let kindText = string("kind")
        let kind = kindText.flatMap(Kind.init(rawValue:))
        if kindText != nil, kind == nil { problems.append("\(at(root["kind"])): kind must be connector, workflow or accelerator") }
        let description = string("description") ?? "", licence = string("licence") ?? ""
        var abiMajor = 0, abiMinMinor = 0
        if let abi = root["abi"] {
            if let major = abi["major"]?.int, major >= 1 { abiMajor = major } else { problems.append("\(at(abi)): abi.major must be a whole number >= 1") }
            if let node = abi["min_minor"] {
                if let minor = node.int, minor >= 0 { abiMinMinor = minor } else { problems.append("\(at(node)): abi.min_minor must be a whole number >= 0") }
            }
        } else { problems.append("\(name): abi is required ({ major: 1, min_minor: 0 })") }
        var canonicalModel = 0
        if let node = root["canonical_model"] {
            if let n = node.int, n >= 1 { canonicalModel = n } else { problems.append("\(at(node)): canonical_model must be a whole number >= 1") }
        } else { problems.append("\(name): canonical_model is required") }
        let host = string("host") ?? ""
        if !host.isEmpty, VersionRange(host) == nil { problems.append("\(at(root["host"])): host \"\(host)\" is not a version range (e.g. \">=1.0.0 <2.0.0\")") }
        var dependencies: [Dependency] = []
        if let node = root["dependencies"] {
            for (i, item) in (node.sequence ?? []).enumerated() {
                guard let depID = item["id"]?.string, validID(depID), let range = item["range"]?.string, VersionRange(range) != nil else {
                    problems.append("\(at(item)): dependencies[\(i)] needs an id (PUBLISHER.NAME) and a range (e.g. \">=1.0.0 <2.0.0\")")
                    continue
                }
                dependencies.append(Dependency(id: depID, range: range))
            }
            if node.sequence == nil { problems.append("\(at(node)): dependencies must be a list") }
        }
        var plugins: [String: [String]] = [:]
        if let node = root["plugins"], let mapping = node.mapping {
            for (key, value) in mapping {
                guard let platform = key.string, platforms.contains(platform) else {
                    problems.append("\(at(key)): platform \"\(key.string ?? "")\" is not one of \(platforms.joined(separator: ", "))")
                    continue
                }
                let files = (value.sequence ?? []).compactMap(\.string)
                if files.isEmpty { problems.append("\(at(value)): plugins.\(platform) must list at least one .so file") }
                for (i, path) in files.enumerated() {
                    let full = directory + "/" + path
                    if !path.hasSuffix(".so") || path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                        problems.append("\(at(value.sequence?[i])): \(path) must be a .so file inside the package directory")
                    } else if !FileManager.default.fileExists(atPath: full) {
                        problems.append("\(at(value.sequence?[i])): \(path) does not exist (build it first)")
                    }
                }
                plugins[platform] = files
            }
        } else if kind != .accelerator || root["plugins"] != nil {
            problems.append("\(at(root["plugins"])): plugins must map a platform (\(platforms.joined(separator: ", "))) to its .so files")
        }
        let templates = string("templates", required: kind == .accelerator), parameters = string("parameters", required: kind == .accelerator)
        if kind != .accelerator, templates != nil || parameters != nil {
            problems.append("\(name): templates and parameters belong to an accelerator, not a \(kind?.rawValue ?? "package")")
        }
        guard problems.isEmpty, let id, let version, let publisher, let kind else {
            throw PackageError(.invalidSource, problems.joined(separator: "\n"))
        }
        let identity = PackageIdentity(id: id, version: version, kind: kind.rawValue, publisher: publisher, description: description,
                                       licence: licence, abiMajor: abiMajor, abiMinMinor: abiMinMinor, canonicalModel: canonicalModel,
                                       host: host, dependencies: dependencies)
        return PackageSource(identity: identity, plugins: plugins, templates: templates, parameters: parameters)
    }

    public var fileName: String { "\(identity.id)-\(identity.version).sbpkg" }
}
