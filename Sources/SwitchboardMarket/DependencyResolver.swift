import SwitchboardABI
import SwitchboardCore
import SwitchboardPackages

/// A package version chosen from a source.
public struct AvailablePackage: Sendable {
    public var entry: RepositoryIndex.Entry
    public var source: String
    /// Where the source's files are (a directory or an http(s) URL).
    public var location: String

    public init(entry: RepositoryIndex.Entry, source: String, location: String) {
        self.entry = entry
        self.source = source
        self.location = location
    }
}

/// Chooses the versions an install needs (docs/PACKAGES.md, "Install per tenant", step 1): the package, then each
/// dependency, depth first, the highest version in range that this host can run. Dependencies come first in the
/// result, so each is installed before what needs it.
public enum DependencyResolver {
    public static func resolve(id: String, version: String?, available: [AvailablePackage], installed: [InstalledPackages.Entry],
                               platform: String = PackageVerifier.currentPlatform,
                               host: SemanticVersion = HostVersion.current) throws(PackageError) -> [AvailablePackage] {
        var chosen: [AvailablePackage] = []
        try visit(id: id, range: version.map { VersionRange("=" + $0) } ?? nil, exact: version, path: [], available: available,
                  installed: installed, platform: platform, host: host, chosen: &chosen, isRoot: true)
        return chosen
    }

    /// Why this host cannot run an entry; nil when it can.
    public static func incompatibility(_ entry: RepositoryIndex.Entry, platform: String = PackageVerifier.currentPlatform,
                                       host: SemanticVersion = HostVersion.current) -> String? {
        if entry.abiMajor != Int(SB_ABI_MAJOR) { return "it needs plugin ABI \(entry.abiMajor); this host speaks ABI \(SB_ABI_MAJOR)" }
        if !entry.platforms.isEmpty, !entry.platforms.contains(platform) {
            return "it has no plugin for \(platform) (it has \(entry.platforms.joined(separator: ", ")))"
        }
        guard let range = VersionRange(entry.host), range.contains(host) else { return "it runs on host versions \(entry.host); this host is \(host)" }
        return nil
    }

    private static func visit(id: String, range: VersionRange?, exact: String?, path: [String], available: [AvailablePackage],
                              installed: [InstalledPackages.Entry], platform: String, host: SemanticVersion,
                              chosen: inout [AvailablePackage], isRoot: Bool) throws(PackageError) {
        let chain = (path + [id]).joined(separator: " -> ")
        if path.contains(id) { throw PackageError(.unresolved, "circular dependency: \(chain); the packages must be published without the cycle") }
        func inRange(_ version: String) -> Bool { range.map { r in SemanticVersion(version).map(r.contains) ?? false } ?? true }
        if let already = chosen.first(where: { $0.entry.id == id }) {
            guard inRange(already.entry.version) else {
                throw PackageError(.unresolved, "\(chain): needs \(id) \(range?.description ?? ""), but \(already.entry.version) is chosen for another package")
            }
            return
        }
        if !isRoot, let kept = installed.first(where: { $0.id == id }), inRange(kept.version) { return }
        let versions = available.filter { $0.entry.id == id }.sorted { a, b in
            guard let x = a.entry.semanticVersion, let y = b.entry.semanticVersion else { return false }
            return VersionRange.compare(x, y) > 0
        }
        guard !versions.isEmpty else {
            throw PackageError(.unresolved, isRoot ? "no source has \(id); switchboard market search lists what the sources offer"
                                                   : "\(chain): \(path.last!) needs \(id) \(range?.description ?? ""), which no source has")
        }
        let matching = versions.filter { inRange($0.entry.version) }
        guard !matching.isEmpty else {
            throw PackageError(.unresolved, "\(chain): no version of \(id) in \(exact ?? range?.description ?? "range") (the sources have \(versions.map { $0.entry.version }.joined(separator: ", ")))")
        }
        guard let pick = matching.first(where: { incompatibility($0.entry, platform: platform, host: host) == nil }) else {
            let why = incompatibility(matching[0].entry, platform: platform, host: host) ?? ""
            throw PackageError(.incompatible, "\(id) \(matching[0].entry.version): \(why)")
        }
        for dependency in pick.entry.dependencies {
            guard let dependencyRange = VersionRange(dependency.range) else {
                throw PackageError(.malformed, "\(id) \(pick.entry.version): dependency \(dependency.id) has an invalid range \"\(dependency.range)\"")
            }
            try visit(id: dependency.id, range: dependencyRange, exact: nil, path: path + [id], available: available, installed: installed,
                      platform: platform, host: host, chosen: &chosen, isRoot: false)
        }
        chosen.append(pick)
    }
}
