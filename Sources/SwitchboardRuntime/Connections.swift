import Foundation
import Logging
import SwitchboardCore
import SwitchboardPackages
import SwitchboardHost
import SwitchboardStore
import SwitchboardVault
import SwitchboardEgress
import SwitchboardSandbox

/// One configured connection, open: its plugin instance and its policies.
public final class Connection: @unchecked Sendable {
    public let tenant: String
    public let config: ConnectionConfig
    public let instance: any PluginHandle
    public var id: String { config.id }
    public var plugin: PluginInfo { instance.info }
    /// Worker health when the connection's plugin runs sandboxed; nil in-process.
    public var sandboxHealth: PluginHealth? { instance.health }
    /// What holds the connection's sandbox worker in (docs/SANDBOX.md section 2); nil in-process.
    public var containment: String? { instance.containment }

    /// Why the connection's plugin did not start (the host runs without it); nil when it runs.
    public let startFailure: String?

    /// Webhook deliveries this connection refused lately (this host's view).
    public let refusals = DeliveryRefusals()

    /// Degraded: its sandbox worker keeps failing, or its webhook deliveries are being refused in a burst.
    public var degraded: Bool { sandboxHealth?.degraded == true || refusals.degraded() }

    init(tenant: String, config: ConnectionConfig, instance: any PluginHandle, startFailure: String? = nil) {
        self.tenant = tenant
        self.config = config
        self.instance = instance
        self.startFailure = startFailure
    }
}

/// The open plugin instances of a configuration: every connection, and one
/// instance per workflow `call` step. Built once at start; every problem is
/// reported with the file:line of the configuration that caused it.
public final class ConnectionRegistry: @unchecked Sendable {
    public let catalog: PluginCatalog
    private(set) var connections: [String: Connection] = [:]  // "tenant/connection"
    private(set) var stepPlugins: [String: any PluginHandle] = [:]  // "tenant/workflow/step"

    public init(config: SwitchboardConfig, store: any IntegrationStore, vault: Vault? = nil, logger: Logger) throws(ConfigError) {
        do {
            // Manifests are read in a probe worker: no untrusted plugin code runs in the host.
            let inspector = SandboxInspector(settings: config.sandbox)
            defer { inspector.close() }
            if !config.pluginDirConfigured, !FileManager.default.fileExists(atPath: config.pluginDir) {
                catalog = PluginCatalog(plugins: [], refused: [])   // the default ./plugins, absent: plugins come from packages
            } else {
                catalog = try PluginCatalog.discover(directory: config.pluginDir, inspect: inspector.inspect)
            }
        } catch {
            throw ConfigError(problems: [.init(location: nil, message: "\(config.file): plugins: \(error.description)")])
        }
        for refusal in catalog.refused {
            logger.warning("plugin file refused", metadata: [
                "path": .string(refusal.path), "code": .string(refusal.code), "error": .string(refusal.description),
            ])
        }
        // Packages installed per tenant: their plugin files are inspected once, however many tenants run them.
        let packaged = config.tenants.flatMap(\.packagePlugins)
        let inspector = SandboxInspector(settings: config.sandbox)
        let packageCatalog = PluginCatalog.catalog(paths: Array(Set(packaged.map(\.path))).sorted(), inspect: inspector.inspect)
        inspector.close()
        for refusal in packageCatalog.refused {
            logger.warning("a package's plugin file refused", metadata: ["path": .string(refusal.path), "error": .string(refusal.description)])
        }
        let baseCatalog = catalog
        var problems: [ConfigError.Problem] = []
        for tenant in config.tenants {
            // This tenant's plugin ids resolve among its own packages first, then in the plugin directory.
            let own = Set(tenant.packagePlugins.map(\.path))
            let catalog = PluginCatalog(plugins: packageCatalog.plugins.filter { own.contains($0.path) },
                                        refused: packageCatalog.refused.filter { own.contains($0.path) }).overlaid(on: baseCatalog)
            func package(of library: PluginInfo) -> PackagedPlugin? { tenant.packagePlugins.first { $0.path == library.path } }
            /// What an instance loads: a plugin-directory file through its content-addressed copy (a build copied over
            /// the file cannot rewrite a running worker's pages, and a changed file is a new path); a package's file as is.
            func loadable(_ library: PluginInfo) -> PluginInfo {
                guard package(of: library) == nil else { return library }
                var copy = library
                do { copy.path = try ContentStore.snapshot(file: library.path, into: config.packagesDir + "/snapshots") } catch {
                    logger.warning("plugin loads from its directory, not from an immutable copy", metadata: [
                        "path": .string(library.path), "error": .string("\(error)")])
                }
                return copy
            }
            func lookup(_ id: String, at location: SourceLocation, problems: inout [ConfigError.Problem]) -> PluginInfo? {
                Self.lookup(id, in: catalog, pluginDir: config.pluginDir, at: location, problems: &problems)
            }
            for c in tenant.connections {
                if catalog.plugin(id: c.plugin) == nil, !config.strictPlugins, let refusal = catalog.refusal(forID: c.plugin),
                   refusal.code.hasPrefix("sandbox-") {
                    // Its plugin timed out, crashed or exited while starting: the host runs without it.
                    logger.error("a connection's plugin failed to start: the connection is failed; the host runs without it", metadata: [
                        "tenant": .string(tenant.id), "connection": .string(c.id), "plugin": .string(c.plugin),
                        "error": .string(refusal.description), "hint": .string("plugins.strict: true makes this a configuration error"),
                    ])
                    let failed = FailedPlugin(id: c.plugin, refusal: refusal)
                    connections["\(tenant.id)/\(c.id)"] = Connection(tenant: tenant.id, config: c, instance: failed, startFailure: failed.reason)
                    continue
                }
                guard let library = lookup(c.plugin, at: c.location, problems: &problems) else { continue }
                let references = c.secrets.map { ($0.key, $0.value, c.secretLocations[$0.key]) }
                    + (c.egress?.auth.references ?? []).map { ("egress.auth", $0, c.location) }
                for (name, reference, location) in references {
                    if reference.hasPrefix("env:"), ProcessInfo.processInfo.environment[String(reference.dropFirst(4))] == nil {
                        problems.append(.init(location: location,
                                              message: "connection \(tenant.id)/\(c.id): secret \"\(name)\" refers to \(reference), which is not set"))
                    } else if reference.hasPrefix("vault:") {
                        let entry = String(reference.dropFirst(6))
                        guard let vault else {
                            problems.append(.init(location: location, message: "connection \(tenant.id)/\(c.id): secret \"\(name)\" is in the vault, but no master key is set (SWITCHBOARD_MASTER_KEY or SWITCHBOARD_MASTER_KEY_FILE)"))
                            continue
                        }
                        do {
                            if try vault.value(tenant: tenant.id, connection: c.id, name: entry) == nil {
                                problems.append(.init(location: location, message: "connection \(tenant.id)/\(c.id): secret \"\(name)\" refers to vault:\(entry), which is not in the vault (switchboard vault set \(tenant.id)/\(c.id) \(entry))"))
                            }
                        } catch {
                            problems.append(.init(location: location, message: "connection \(tenant.id)/\(c.id): secret \"\(name)\": \(error)"))
                        }
                    }
                }
                let secrets = ConnectionSecrets(references: c.secrets, vault: vault.map { VaultSecrets(vault: $0, tenant: tenant.id, connection: c.id) })
                let egress = c.egress.map { configured in
                    var policy = configured
                    policy.connectionLabel = "\(tenant.id)/\(c.id)"
                    // On a shared store the limit is one bucket for every host.
                    let limiter = (store as? any SharedRateLimits).flatMap { shared in
                        policy.ratePerSecond.map { StoreRateLimiter(store: shared, key: "egress/\(tenant.id)/\(c.id)", ratePerSecond: $0, burst: policy.burst) }
                    }
                    return HTTPEgress(policy: policy, resolve: { try secrets.resolve(reference: $0) }, limiter: limiter)
                }
                let services = InstanceServices(
                    tenant: tenant.id, connection: c.id, logger: logger, secrets: secrets,
                    rawSecretsAllowed: c.allowRawSecrets, state: StoreBackedState(store: store, tenant: tenant.id, connection: c.id),
                    egress: egress, metrics: PluginMetrics())
                do {
                    let isolation = c.isolation ?? config.isolation(plugin: c.plugin, package: package(of: library))
                    var sandbox = config.sandbox
                    sandbox.files = c.files
                    let instance = try Self.open(loadable(library), isolation: isolation, config: c.config.bytes, services: services,
                                                 sandbox: sandbox)
                    if let worker = (instance as? SandboxedPlugin)?.hardening, !worker.complete {
                        // The kernel refused part of the containment: say what the worker runs without.
                        logger.warning("sandbox weaker than documented on this machine", metadata: [
                            "tenant": .string(tenant.id), "connection": .string(c.id), "plugin": .string(c.plugin),
                            "containment": .string(worker.summary),
                        ])
                    }
                    connections["\(tenant.id)/\(c.id)"] = Connection(tenant: tenant.id, config: c, instance: instance)
                } catch {
                    for d in error.outcome.diagnostics {
                        problems.append(.init(location: c.location(ofConfigField: d.fieldPath),
                                              message: "connection \(tenant.id)/\(c.id) (plugin \(c.plugin)): config\(d.fieldPath.isEmpty ? "" : ".\(d.fieldPath)"): \(d.summary)"))
                    }
                    if error.outcome.diagnostics.isEmpty {
                        problems.append(.init(location: c.location, message: "connection \(tenant.id)/\(c.id): \(error.description)"))
                    }
                }
                if let poll = c.poll, !library.has(.read) {
                    problems.append(.init(location: c.location, message: "connection \(c.id) polls \(poll.streams) but plugin \(c.plugin) cannot read"))
                }
            }
            for workflow in tenant.workflows {
                for (index, step) in workflow.steps.enumerated() {
                    switch step {
                    case .call(let pluginID, let pluginConfig, let location):
                        guard let library = lookup(pluginID, at: location, problems: &problems) else { continue }
                        guard library.descriptor.kind == .workflow else {
                            problems.append(.init(location: location, message: "call: plugin \(pluginID) is a connector, not a workflow plugin"))
                            continue
                        }
                        let services = InstanceServices(tenant: tenant.id, connection: CanonicalID.workflowSource(workflow.id), logger: logger,
                                                        state: StoreBackedState(store: store, tenant: tenant.id, connection: CanonicalID.workflowSource(workflow.id)))
                        do {
                            let isolation = config.isolation(plugin: pluginID, package: package(of: library))
                            stepPlugins["\(tenant.id)/\(workflow.id)/\(index)"] = try Self.open(loadable(library), isolation: isolation, config: pluginConfig.bytes,
                                                                                                 services: services, sandbox: config.sandbox)
                        } catch {
                            problems.append(.init(location: location, message: "call \(pluginID): \(error.outcome.summary)"))
                        }
                    case .write(let connection, _):
                        if let c = tenant.connection(connection), let library = catalog.plugin(id: c.plugin), !library.has(.write) {
                            problems.append(.init(location: workflow.location,
                                                  message: "workflow \(workflow.id) writes to \(connection), but plugin \(c.plugin) cannot write"))
                        }
                    case .map: break
                    }
                }
            }
            for group in tenant.masterData {
                for name in group.connections {
                    if let c = tenant.connection(name), let library = catalog.plugin(id: c.plugin), !library.has(.write) {
                        problems.append(.init(location: group.location, message: "master_data \(group.entity): plugin \(c.plugin) of \(name) cannot write"))
                    }
                }
            }
        }
        guard problems.isEmpty else {
            close()
            throw ConfigError(problems: problems)
        }
    }

    static func lookup(_ id: String, in catalog: PluginCatalog, pluginDir: String, at location: SourceLocation,
                       problems: inout [ConfigError.Problem]) -> PluginInfo? {
        if let library = catalog.plugin(id: id) { return library }
        if let refusal = catalog.refusal(forID: id) {
            problems.append(.init(location: location, message: "plugin \"\(id)\" was refused: \(refusal.description)"))
            return nil
        }
        let known = catalog.plugins.map(\.descriptor.id).sorted().joined(separator: ", ")
        let refused = catalog.refused.isEmpty ? "" : "; refused files: " + catalog.refused.map(\.description).joined(separator: "; ")
        problems.append(.init(location: location, message: "unknown plugin id \"\(id)\" (in \(pluginDir) and this tenant's packages: \(known.isEmpty ? "none" : known)\(refused))"))
        return nil
    }

    /// Opens a plugin instance where the configuration says it runs: in this process, or in a supervised worker.
    static func open(_ plugin: PluginInfo, isolation: Isolation, config: [UInt8], services: InstanceServices,
                     sandbox: SandboxSettings) throws(PluginCallError) -> any PluginHandle {
        switch isolation {
        case .inprocess:
            let library: PluginLibrary
            do { library = try PluginLibrary.load(path: plugin.path) } catch {
                throw PluginCallError(pluginID: plugin.descriptor.id, operation: "load", outcome: CallOutcome(status: .fatal, diagnostics: [Diagnostic(error.description)]))
            }
            return try library.open(config: config, services: services)
        case .sandbox:
            let sandboxed: SandboxedPlugin
            do { sandboxed = try SandboxedPlugin.load(path: plugin.path, settings: sandbox) } catch {
                throw PluginCallError(pluginID: plugin.descriptor.id, operation: "load", outcome: CallOutcome(status: .fatal, diagnostics: [Diagnostic(error.description)]))
            }
            do { return try sandboxed.open(config: config, services: services) } catch {
                sandboxed.close()
                throw error
            }
        }
    }

    public func connection(tenant: String, id: String) -> Connection? { connections["\(tenant)/\(id)"] }

    func stepPlugin(tenant: String, workflow: String, step: Int) -> (any PluginHandle)? { stepPlugins["\(tenant)/\(workflow)/\(step)"] }

    public var all: [Connection] { connections.values.sorted { ($0.tenant, $0.id) < ($1.tenant, $1.id) } }

    /// Closes every instance (plugins free what they hold).
    public func close() {
        for c in connections.values { c.instance.close() }
        for p in stepPlugins.values { p.close() }
    }
}
