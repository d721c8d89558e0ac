import Crypto
import Foundation
import Logging
import SwitchboardCore
import SwitchboardPackages
import SwitchboardRuntime
import SwitchboardStore

#if canImport(Glibc)
import Glibc
#endif

/// What an install, upgrade, rollback or removal works with: the host's configuration, trust store and sources.
public struct MarketContext: Sendable {
    public var configFile: String
    public var trust: TrustStore
    public var sources: PackageSources
    /// The development switch: accept unsigned packages (each such install is audited as `package.unsigned`).
    public var allowUnsigned = false
    public var actor: String
    public var stores: StoreDrivers
    public var logger: Logger

    public init(configFile: String, trust: TrustStore, sources: PackageSources, actor: String, stores: StoreDrivers, logger: Logger) {
        self.configFile = configFile
        self.trust = trust
        self.sources = sources
        self.actor = actor
        self.stores = stores
        self.logger = logger
    }
}

/// Installs packages per tenant (docs/PACKAGES.md, "Install per tenant"): resolve, fetch and verify, unpack into the
/// content-addressed store, render, validate as `switchboard run` would, then commit by renaming `installed.json`.
/// Nothing before the rename is visible to a host; a failure removes what the attempt created.
public enum MarketInstaller {
    /// What one command changed.
    public struct Outcome: Sendable {
        /// One line per package: "installed", "upgraded", "unchanged", "rolled back", "removed".
        public var changes: [(action: String, entry: InstalledPackages.Entry, from: InstalledPackages.Entry?)]
        /// Sources that could not be read (the install went on with the others).
        public var warnings: [String]
    }

    /// Installs `id` (at `version`, or the newest this host can run) for `tenant` from the context's sources, or,
    /// when `id` is a path to an `.sbpkg` file, that file (signed beside it as `FILE.sig`, or unsigned under the
    /// development switch).
    public static func install(_ id: String, version: String?, tenant: String, values: [(String, JSON)],
                               context: inout MarketContext) async throws -> Outcome {
        let (directory, storeURL) = try prepare(tenant: tenant, context: context)
        let lock = try await Lock(directory: directory)
        defer { lock.release() }
        let installed = try InstalledPackages.load(directory: directory)
        var warnings: [String] = []
        let plan: [AvailablePackage]
        if id.hasSuffix(".sbpkg") {
            plan = [AvailablePackage(entry: try localEntry(path: id), source: "file", location: (id as NSString).deletingLastPathComponent)]
        } else {
            let available: [AvailablePackage]
            (available, warnings) = await context.sources.available()
            do {
                plan = try DependencyResolver.resolve(id: id, version: version, available: available, installed: installed.entries(tenant: tenant))
            } catch {
                throw warnings.isEmpty ? error : PackageError(error.kind, error.message + " (unread sources: " + warnings.joined(separator: "; ") + ")")
            }
        }
        var work = Attempt(directory: directory)
        do {
            var proposed = installed
            var changes: Outcome = .init(changes: [], warnings: warnings)
            for (position, package) in plan.enumerated() {
                let isRoot = position == plan.count - 1
                let current = proposed.entry(tenant: tenant, id: package.entry.id)
                if let current, current.sha256 == package.entry.sha256, !isRoot || values.isEmpty {
                    changes.changes.append(("unchanged", current, nil))
                    continue
                }
                let verified = try await fetchAndVerify(package, into: &work, context: context)
                let storeDir = try unpack(verified, into: &work)
                let given = isRoot ? (values.isEmpty ? (current.map { objectPairs($0.values) } ?? []) : values) : []
                let rendered = try render(verified, storeDir: storeDir, tenant: tenant, values: given, into: &work)
                var entry = InstalledPackages.Entry(
                    id: verified.manifest.id, version: verified.manifest.version, sha256: verified.sha256, kind: verified.manifest.kind,
                    publisher: verified.manifest.publisher, signedBy: verified.signedBy?.keyID,
                    installedAt: Clock.iso8601(unixMillis: Clock.nowMillis()), actor: context.actor, values: rendered.values,
                    fragments: rendered.fragments,
                    plugins: (verified.manifest.plugins[PackageVerifier.currentPlatform] ?? []).map { "store/\(verified.sha256)/\($0)" },
                    previous: current)
                if current?.sha256 == entry.sha256 { entry.previous = current?.previous ?? [] }
                var list = proposed.entries(tenant: tenant)
                if let at = list.firstIndex(where: { $0.id == entry.id }) { list[at] = entry } else { list.append(entry) }
                proposed.tenants[tenant] = list
                changes.changes.append((current == nil ? "installed" : "upgraded", entry, current))
            }
            if changes.changes.allSatisfy({ $0.action == "unchanged" }) {
                work.discard()
                return changes
            }
            try validate(proposed, directory: directory, tenant: tenant, context: context)
            try proposed.save(directory: directory)  // the commit point
            work.keep()
            try audit(changes.changes, tenant: tenant, store: storeURL, context: context)
            return changes
        } catch {
            work.discard()
            throw error
        }
    }

    /// Returns `id` for `tenant` to the version it replaced (its files are still in the store).
    public static func rollback(_ id: String, tenant: String, context: MarketContext) async throws -> Outcome {
        try await change(tenant: tenant, context: context) { directory, list in
            guard let at = list.firstIndex(where: { $0.id == id }) else {
                throw PackageError(.invalidSource, "\(id) is not installed for tenant \(tenant) (switchboard market list --tenant \(tenant))")
            }
            let current = list[at]
            guard var previous = current.previous.first else {
                throw PackageError(.invalidSource, "\(id) \(current.version) for tenant \(tenant) replaced nothing: there is no version to roll back to")
            }
            previous.previous = []
            previous.installedAt = Clock.iso8601(unixMillis: Clock.nowMillis())
            previous.actor = context.actor
            list[at] = previous
            return ("rolled back", previous, current)
        }
    }

    /// Removes `id` from `tenant`; refused while another of the tenant's packages depends on it.
    public static func remove(_ id: String, tenant: String, context: MarketContext) async throws -> Outcome {
        try await change(tenant: tenant, context: context) { directory, list in
            guard let current = list.first(where: { $0.id == id }) else { throw PackageError(.invalidSource, "\(id) is not installed for tenant \(tenant)") }
            for other in list where other.id != id {
                let manifest = try? manifest(directory: directory, sha256: other.sha256)
                if manifest?.dependencies.contains(where: { $0.id == id }) == true {
                    throw PackageError(.conflict, "\(other.id) \(other.version) for tenant \(tenant) depends on \(id); remove \(other.id) first")
                }
            }
            list.removeAll { $0.id == id }
            return ("removed", current, nil)
        }
    }

    /// One change to a tenant's list that needs no download: under the lock, `edit` changes the list and says what it
    /// did; the result is validated as `switchboard run` reads it, committed by the rename, then audited.
    static func change(tenant: String, context: MarketContext,
                       _ edit: (String, inout [InstalledPackages.Entry]) throws -> (String, InstalledPackages.Entry, InstalledPackages.Entry?)) async throws -> Outcome {
        let (directory, storeURL) = try prepare(tenant: tenant, context: context)
        let lock = try await Lock(directory: directory)
        defer { lock.release() }
        var proposed = try InstalledPackages.load(directory: directory)
        var list = proposed.entries(tenant: tenant)
        let made = try edit(directory, &list)
        proposed.tenants[tenant] = list.isEmpty ? nil : list
        try validate(proposed, directory: directory, tenant: tenant, context: context)
        try proposed.save(directory: directory)
        try audit([made], tenant: tenant, store: storeURL, context: context)
        return Outcome(changes: [made], warnings: [])
    }

    /// The packages directory of the configuration, created if need be; checks the tenant is configured.
    static func prepare(tenant: String, context: MarketContext) throws -> (directory: String, store: String) {
        let config = try ConfigLoader.load(file: context.configFile, stores: context.stores)
        guard config.tenant(tenant) != nil else {
            throw PackageError(.invalidConfiguration, "tenant \"\(tenant)\" is not in \(context.configFile); add it (id and name under tenants:) before installing for it")
        }
        try FileManager.default.createDirectory(atPath: config.packagesDir, withIntermediateDirectories: true)
        return (config.packagesDir, config.store)
    }

    /// An index entry for a package file given by path (its own `.sig`, if any, is its signature).
    static func localEntry(path: String) throws -> RepositoryIndex.Entry {
        guard let data = FileManager.default.contents(atPath: path) else { throw PackageError(.io, "\(path) cannot be read") }
        let contents = try PackageReader.read(path: path)
        let signature = FileManager.default.contents(atPath: path + ".sig").flatMap { try? JSON.parse(Array($0)) } ?? .object([])
        return RepositoryIndex.Entry(manifest: contents.manifest, archive: (path as NSString).lastPathComponent,
                                     sha256: PackageManifest.hex(SHA256.hash(data: data)), size: data.count, signature: signature)
    }

    /// Downloads the archive into the attempt's scratch directory, checks its size and digest against the index
    /// before opening it, then verifies it against the trust store.
    static func fetchAndVerify(_ package: AvailablePackage, into work: inout Attempt, context: MarketContext) async throws -> VerifiedPackage {
        let entry = package.entry
        guard entry.size <= PackageReader.maxTotalBytes else {
            throw PackageError(.malformed, "\(entry.id) \(entry.version) is \(entry.size) bytes, more than \(PackageReader.maxTotalBytes >> 20) MiB")
        }
        let bytes = try await RepositoryFetch.fetch(package.location, entry.archive, maxBytes: entry.size)
        let sha = PackageManifest.hex(SHA256.hash(data: bytes))
        guard bytes.count == entry.size, sha == entry.sha256 else {
            throw PackageError(.tampered, "\(entry.id) \(entry.version) from \(package.source): the archive is \(bytes.count) bytes with SHA-256 \(sha); the index says \(entry.size) bytes, \(entry.sha256). Nothing was unpacked; fetch again or tell the repository's owner")
        }
        let scratch = try work.scratch()
        let path = scratch + "/" + "\(entry.id)-\(entry.version).sbpkg"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if case .object(let fields) = entry.signature, !fields.isEmpty {
            try Data(entry.signature.bytes).write(to: URL(fileURLWithPath: path + ".sig"))
        }
        return try PackageVerifier.verify(path: path, trust: context.trust, allowUnsigned: context.allowUnsigned)
    }

    /// `PKGDIR/store/SHA256/`: written beside it and renamed; one that exists is complete already.
    static func unpack(_ package: VerifiedPackage, into work: inout Attempt) throws -> String {
        let final = work.directory + "/store/" + package.sha256
        if FileManager.default.fileExists(atPath: final) { return final }
        let temporary = work.directory + "/store/.tmp-" + package.sha256 + "-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        for (relative, bytes) in package.contents.files {
            let path = temporary + "/" + relative
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        try Data(package.manifest.json.bytes).write(to: URL(fileURLWithPath: temporary + "/manifest.json"))
        try FileManager.default.moveItem(atPath: temporary, toPath: final)
        work.created.append(final)
        return final
    }

    /// The manifest of an unpacked package.
    static func manifest(directory: String, sha256: String) throws -> PackageManifest {
        guard let data = FileManager.default.contents(atPath: directory + "/store/\(sha256)/manifest.json") else {
            throw PackageError(.io, "\(directory)/store/\(sha256) is missing; install the package again")
        }
        return try PackageManifest(bytes: Array(data))
    }

    /// Renders an accelerator's templates with `values` into `PKGDIR/rendered/TENANT/ID-VERSION-HASH/`; returns the
    /// fragments (relative to PKGDIR) and the checked values.
    static func render(_ package: VerifiedPackage, storeDir: String, tenant: String, values: [(String, JSON)],
                       into work: inout Attempt) throws -> (fragments: [String], values: JSON) {
        let m = package.manifest
        let templates = package.contents.files.keys.filter { $0.hasPrefix("templates/") && $0.hasSuffix(".yaml") }.sorted()
        guard let schemaBytes = package.contents.files["parameters.schema.json"] else {
            if !values.isEmpty { throw PackageError(.parameters, "\(m.id) \(m.version) takes no parameters (it has no parameters.schema.json)") }
            guard templates.isEmpty else { throw PackageError(.malformed, "\(m.id) \(m.version) has templates but no parameters.schema.json") }
            return ([], .object([]))
        }
        let schema = try ParameterSchema(bytes: schemaBytes)
        let checked = try schema.validate(values)
        let digest = PackageManifest.hex(SHA256.hash(data: Data((package.sha256 + checked.text).utf8))).prefix(8)
        let relativeRoot = "rendered/\(tenant)/\(m.id)-\(m.version)-\(digest)"
        let root = work.directory + "/" + relativeRoot
        var fragments: [String] = []
        var problems: [String] = []
        // What this attempt creates goes with it on failure: the highest directory of the path that did not exist.
        var top = root
        while !FileManager.default.fileExists(atPath: (top as NSString).deletingLastPathComponent),
              (top as NSString).deletingLastPathComponent.count > work.directory.count + "/rendered".count {
            top = (top as NSString).deletingLastPathComponent
        }
        if !FileManager.default.fileExists(atPath: root) { work.created.append(top) }
        for template in templates {
            let text = String(decoding: package.contents.files[template]!, as: UTF8.self)
            let path = root + "/" + template
            do {
                let rendered = try TemplateRenderer.render(text, file: "\(m.id) \(m.version) \(template)", values: checked, declared: schema.names)
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(rendered.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                fragments.append(relativeRoot + "/" + template)
            } catch let error as PackageError {
                problems.append(error.message)
            }
        }
        guard problems.isEmpty else { throw PackageError(.invalidConfiguration, problems.joined(separator: "; ")) }
        return (fragments, checked)
    }

    /// The proposed state, read as `switchboard run` reads it: the loader (file:line:column into the rendered
    /// templates), then the plugin checks for that tenant (plugin ids, each connection's config, the vault's secrets).
    static func validate(_ proposed: InstalledPackages, directory: String, tenant: String, context: MarketContext) throws {
        do {
            var config = try ConfigLoader.load(file: context.configFile, stores: context.stores, installed: proposed)
            config.tenants = config.tenants.filter { $0.id == tenant }
            let store = try context.stores.open(url: config.store)
            let vault = try Runtime.openVault(store: store)
            let registry = try ConnectionRegistry(config: config, store: store, vault: vault, logger: context.logger)
            registry.close()
        } catch let error as ConfigError {
            // A rendered fragment is named as its package's template (its lines are the template's).
            let rendered = "\(directory)/rendered/\(tenant)/"
            let lines = error.problems.map { problem in
                var text = "\(problem)"
                if text.hasPrefix(rendered) { text = String(text.dropFirst(rendered.count)) }
                return "  " + text
            }
            throw PackageError(.invalidConfiguration, "tenant \(tenant) would not load; nothing was changed:\n" + lines.joined(separator: "\n"))
        }
    }

    static func audit(_ changes: [(action: String, entry: InstalledPackages.Entry, from: InstalledPackages.Entry?)], tenant: String,
                      store url: String, context: MarketContext) throws {
        let store = try context.stores.open(url: url)
        let now = Clock.nowMillis()
        for change in changes where change.action != "unchanged" {
            let e = change.entry
            let action = "package." + change.action.replacingOccurrences(of: " ", with: "_")
            let from = change.from.map { "from \($0.version) (sha256 \($0.sha256)) " } ?? ""
            let to = change.action == "removed" ? "" : "to \(e.version) (sha256 \(e.sha256))"
            try store.audit(actor: context.actor, action: action, target: "\(tenant)/\(e.id)", detail: (from + to).trimmingCharacters(in: .whitespaces), now: now)
            if change.action != "removed", e.signedBy == nil {
                try store.audit(actor: context.actor, action: "package.unsigned", target: "\(tenant)/\(e.id)",
                                detail: "\(e.version) (sha256 \(e.sha256)) accepted unsigned under --allow-unsigned", now: now)
            }
        }
    }

    static func objectPairs(_ json: JSON) -> [(String, JSON)] { json.objectValue ?? [] }
}

/// What one install attempt wrote before its commit point, so a failure can take it all back.
struct Attempt {
    let directory: String
    var created: [String] = []
    private var scratchDir: String?

    init(directory: String) { self.directory = directory }

    mutating func scratch() throws -> String {
        if let scratchDir { return scratchDir }
        let path = directory + "/.tmp-install-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        scratchDir = path
        return path
    }

    /// After the commit: only the downloads go.
    func keep() { if let scratchDir { try? FileManager.default.removeItem(atPath: scratchDir) } }

    /// A failure: everything this attempt created goes.
    func discard() {
        keep()
        for path in created.reversed() { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// `PKGDIR/.lock`, held for one change: two installs on one host run one after the other.
struct Lock {
    let fd: Int32

    /// Waits for the lock without holding a thread: a blocking flock in async code can take every thread of the
    /// cooperative pool while the holder awaits one (found by MarketTests on two cores: three racing installs hung).
    init(directory: String) async throws {
        fd = open(directory + "/.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PackageError(.io, "\(directory)/.lock cannot be opened: \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw PackageError(.io, "\(directory)/.lock cannot be locked: \(reason)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
