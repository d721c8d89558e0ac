import Foundation
import SwitchboardCore
import SwitchboardPackages
import Yams

/// Packages installed per tenant join the configuration here (docs/PACKAGES.md, "Install per tenant"): each
/// tenant's rendered fragments are read with the same reader as the file (errors at the fragment's
/// file:line:column), and its packages' plugin files become that tenant's first place to resolve a plugin id.
extension ConfigReader {
    mutating func mergeInstalledPackages(into tenants: inout [TenantConfig], directory: String) {
        let state: InstalledPackages
        if let installed {
            state = installed
        } else {
            do { state = try InstalledPackages.load(directory: directory) } catch {
                problems.append(.init(location: nil, message: "packages: \(error)"))
                return
            }
        }
        for tenantID in state.tenants.keys.sorted() where !(state.tenants[tenantID] ?? []).isEmpty {
            guard let index = tenants.firstIndex(where: { $0.id == tenantID }) else {
                problems.append(.init(location: nil, message: "\(directory)/\(InstalledPackages.fileName): tenant \"\(tenantID)\" has packages installed but is not in \(file); add the tenant back or run switchboard market remove for its packages"))
                continue
            }
            for entry in state.entries(tenant: tenantID) {
                tenants[index].packageVersions[entry.id] = entry.version
                tenants[index].packagePlugins += entry.plugins.map {
                    PackagedPlugin(path: directory + "/" + $0, package: entry.id, version: entry.version, publisher: entry.publisher)
                }
                for fragment in entry.fragments { merge(fragment: directory + "/" + fragment, package: entry, into: &tenants[index]) }
            }
        }
    }

    /// Reads one rendered fragment (`connections`, `workflows`, `master_data` of one tenant) into `tenant`.
    private mutating func merge(fragment path: String, package: InstalledPackages.Entry, into tenant: inout TenantConfig) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            problems.append(.init(location: nil, message: "\(path): the configuration of package \(package.id) \(package.version) for tenant \(tenant.id) cannot be read; install it again"))
            return
        }
        var reader = ConfigReader(file: path)
        reader.stores = stores
        reader.retentionDefaults = retentionDefaults
        defer { problems += reader.problems }
        let root: Node
        do { root = try ConfigLoader.document(text, file: path) } catch {
            reader.problems += error.problems
            return
        }
        guard let top = reader.mapping(root, "a package's configuration fragment", allowed: ["connections", "workflows", "master_data"]) else { return }
        var connections: [ConnectionConfig] = []
        for item in top["connections"].flatMap({ reader.sequence($0, "connections") }) ?? [] {
            guard let c = reader.connection(item) else { continue }
            if let clash = (tenant.connections + connections).first(where: { $0.id == c.id }) {
                reader.fail(item, "connection id \"\(c.id)\" of package \(package.id) is already defined at \(clash.location) in tenant \(tenant.id)")
                continue
            }
            connections.append(c)
        }
        tenant.connections += connections
        let known = Set(tenant.connections.map(\.id))
        for item in top["master_data"].flatMap({ reader.sequence($0, "master_data") }) ?? [] {
            if let m = reader.master(item, connections: known) { tenant.masterData.append(m) }
        }
        for item in top["workflows"].flatMap({ reader.sequence($0, "workflows") }) ?? [] {
            guard let w = reader.workflow(item, connections: known) else { continue }
            if let clash = tenant.workflows.first(where: { $0.id == w.id }) {
                reader.fail(item, "workflow id \"\(w.id)\" of package \(package.id) is already defined at \(clash.location) in tenant \(tenant.id)")
                continue
            }
            tenant.workflows.append(w)
        }
    }
}
