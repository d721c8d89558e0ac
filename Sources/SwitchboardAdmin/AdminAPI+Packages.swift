import Foundation
import SwitchboardCore
import SwitchboardMarket
import SwitchboardPackages
import SwitchboardRuntime
import SwitchboardStore

/// `GET /api/v1/packages` (docs/ADMIN-API.md): what each tenant runs from packages, what the sources offer, the
/// upgrades available, and the install history. Packages span tenants, so only a partner-scoped admin reads it.
extension AdminAPI {
    /// The report both the API and the dashboard page show.
    struct PackagesReport: Sendable {
        var json: JSON
        var tenants: [(tenant: String, entries: [JSON])]
    }

    func requirePartner(_ who: Principal) throws {
        guard who.tenant == nil else {
            throw AdminError(status: .forbidden, code: "forbidden", message: "packages span tenants: this needs a partner-scoped admin token")
        }
    }

    func packagesReport(_ who: Principal, readSources: Bool) async throws -> PackagesReport {
        try requirePartner(who)
        let config = runtime.config
        let installed: InstalledPackages
        do { installed = try InstalledPackages.load(directory: config.packagesDir) } catch {
            throw AdminError(status: .internalServerError, code: "packages_unreadable", message: "\(error)")
        }
        var available: [AvailablePackage] = []
        var sourcesJSON: [JSON] = []
        if readSources, var sources = try? PackageSources(path: HostFiles.sourcesPath(trust: HostFiles.trustPath(config: config.file))) {
            for (source, result) in await sources.indexes() {
                var fields: [(String, JSON)] = [("name", .string(source.name)), ("location", .string(Redactor.redact(source.location))),
                                                ("key_id", .string(source.key.keyID))]
                switch result {
                case .success(let index):
                    available += index.entries.map { AvailablePackage(entry: $0, source: source.name, location: source.location) }
                    fields += [("serial", .number("\(index.serial)")), ("expires", .string(index.expires)),
                               ("versions", .number("\(index.entries.count)")), ("error", .null)]
                case .failure(let error):
                    fields += [("error", .string("\(error)"))]
                }
                sourcesJSON.append(.object(fields))
            }
        }
        func newest(_ id: String) -> RepositoryIndex.Entry? {
            available.map(\.entry).filter { $0.id == id && DependencyResolver.incompatibility($0) == nil }.max { a, b in
                guard let x = a.semanticVersion, let y = b.semanticVersion else { return false }
                return VersionRange.compare(x, y) < 0
            }
        }
        var tenants: [(String, [JSON])] = []
        for tenant in config.tenants {
            let entries: [JSON] = installed.entries(tenant: tenant.id).map { e in
                let upgrade = newest(e.id).flatMap { n -> String? in
                    guard let v = n.semanticVersion, let mine = SemanticVersion(e.version), VersionRange.compare(v, mine) > 0 else { return nil }
                    return n.version
                }
                let running = tenant.packageVersions[e.id]
                return .object([
                    ("id", .string(e.id)), ("version", .string(e.version)), ("kind", .string(e.kind)), ("publisher", .string(e.publisher)),
                    ("sha256", .string(e.sha256)), ("signed_by", e.signedBy.map { .string($0) } ?? .null),
                    ("installed_at", .string(e.installedAt)), ("actor", .string(e.actor)),
                    ("running_version", running.map { .string($0) } ?? .null),
                    ("pending", .bool(running != e.version)),
                    ("rollback_to", e.previous.first.map { .string($0.version) } ?? .null),
                    ("upgrade_available", upgrade.map { .string($0) } ?? .null),
                ])
            }
            tenants.append((tenant.id, entries))
        }
        var seen = Set<String>()
        let catalogue: [JSON] = available.sorted { $0.entry.id < $1.entry.id }.compactMap { a in
            guard seen.insert(a.entry.id).inserted, let n = newest(a.entry.id) ?? Optional(a.entry) else { return nil }
            return .object([("id", .string(n.id)), ("version", .string(n.version)), ("kind", .string(n.kind)), ("publisher", .string(n.publisher)),
                            ("description", .string(n.description)), ("source", .string(a.source)),
                            ("runs_here", .bool(DependencyResolver.incompatibility(n) == nil))])
        }
        let history: [JSON] = try runtime.store.auditEntries(limit: 10_000).filter { $0.action.hasPrefix("package.") }.prefix(200).map { e in
            .object([("seq", .number("\(e.seq)")), ("at", .number("\(e.at)")), ("actor", .string(e.actor)), ("action", .string(e.action)),
                     ("target", .string(e.target)), ("detail", .string(Redactor.redact(e.detail)))])
        }
        let json = JSON.object([
            ("tenants", .object(tenants.map { ($0.0, JSON.array($0.1)) })), ("sources", .array(sourcesJSON)),
            ("catalogue", .array(catalogue)), ("history", .array(history)),
        ])
        return PackagesReport(json: json, tenants: tenants)
    }
}
