import SwitchboardCore
import SwitchboardEgress
import SwitchboardSandbox
import SwitchboardStore

/// A loaded, checked configuration (docs/CONFIG.md describes the file).
public struct SwitchboardConfig: Sendable {
    public var file: String
    /// Store URL, `sqlite:PATH` (the default: `sqlite:switchboard.db` beside the config file).
    public var store: String
    public var pluginDir: String
    /// Whether `plugins.dir` (or $SWITCHBOARD_PLUGIN_DIR) names the directory: only then is a missing one an error
    /// (a host whose plugins all come from packages needs none).
    public var pluginDirConfigured = true
    /// Plugin ids the operator trusts to run inside the host process (`plugins.trusted`).
    public var trustedPlugins: Set<String> = []
    /// Publishers whose packages' plugins run inside the host process (`plugins.trusted_publishers`).
    public var trustedPublishers: Set<String> = []
    /// Where installed packages live (`packages:`; `packages` beside the file by default; docs/PACKAGES.md).
    public var packagesDir = ""
    /// `plugins.strict`: a connection whose plugin failed to start (timed out, crashed or exited in
    /// its constructor or init) is a configuration error; by default the host starts with that
    /// connection failed.
    public var strictPlugins = false
    /// Limits and supervision of sandboxed plugins (`plugins.sandbox`).
    public var sandbox = SandboxSettings()
    /// The partner's brand on the dashboard (`branding:`).
    public var branding = Branding()
    public var worker: WorkerSettings
    public var tenants: [TenantConfig]
    /// The background pruner (`retention:`; each tenant's own policy is `TenantConfig.retention`).
    public var retention = RetentionSettings()

    public func tenant(_ id: String) -> TenantConfig? { tenants.first { $0.id == id } }

    /// Where a plugin runs by default: in the host when the operator trusts its id or, for a package's plugin, its
    /// publisher; sandboxed otherwise.
    public func isolation(plugin: String, package: PackagedPlugin?) -> Isolation {
        if trustedPlugins.contains(plugin) { return .inprocess }
        if let package, trustedPublishers.contains(package.publisher) { return .inprocess }
        return .sandbox
    }
}

/// A plugin file that came with a package installed for a tenant.
public struct PackagedPlugin: Sendable, Equatable {
    public var path: String
    public var package: String
    public var version: String
    public var publisher: String
}

/// White-label: the partner's name, logo and colours on the dashboard; no Switchboard branding is shown when a name is set.
public struct Branding: Sendable, Equatable {
    public var name = "Switchboard"
    public var logoURL: String?
    public var primaryColor = "#1f6feb"
    public var accentColor = "#d29922"

    public init() {}
}

/// Where a plugin runs (docs/SANDBOX.md).
public enum Isolation: String, Sendable {
    case inprocess, sandbox
}

/// Where in the configuration file something was written.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var description: String { "\(file):\(line):\(column)" }
}

/// What is not per tenant about retention (docs/STORE.md "Retention").
public struct RetentionSettings: Sendable {
    /// How often the pruner runs.
    public var everyMillis: Int64 = 10 * 60_000
    /// How long audit rows are kept; nil (the default) keeps the whole trail.
    public var auditMillis: Int64?
    public init() {}
}

public struct WorkerSettings: Sendable {
    /// Work items claimed per batch (one transaction each way).
    public var batch = 256
    /// How long a claimed item stays leased before another worker may take it.
    public var leaseMillis: Int64 = 60_000
    /// Idle wait between empty polls of the queue.
    public var idleMillis: Int64 = 50
    public var deadlineMillis: Int64 = 30_000
    /// On a shared store: how long the scheduler may go without a sign of life from its poller before another
    /// host ends its lock session and takes over. Nil: twice the deadline, at least a minute.
    public var schedulerStallMillis: Int64?

    /// How long a stop waits for the calls in flight (`worker.stop_timeout`); nil: the deadline plus 10 s.
    public var stopTimeoutMillis: Int64?
    public var effectiveStopTimeoutMillis: Int64 { stopTimeoutMillis ?? deadlineMillis + 10_000 }

    /// A poll call may take up to the deadline between two signs of life, so the bound is above it.
    public var effectiveSchedulerStallMillis: Int64 { schedulerStallMillis ?? max(60_000, 2 * deadlineMillis) }
}

public struct TenantConfig: Sendable {
    public var id: String
    public var name: String
    public var connections: [ConnectionConfig]
    public var workflows: [WorkflowConfig]
    public var masterData: [MasterDataConfig]
    /// A transaction that completes within this time counts toward the tenant's SLA %.
    public var slaTargetMillis: Int64 = 15 * 60_000
    /// How long this tenant's history is kept (`retention:` at the top, overridden per tenant).
    public var retention = RetentionPolicy.standard
    public var location: SourceLocation
    /// Plugin files of the packages installed for this tenant: its plugin ids resolve here first.
    public var packagePlugins: [PackagedPlugin] = []
    /// The packages this configuration was loaded with: id -> version (what a running host runs).
    public var packageVersions: [String: String] = [:]

    public func connection(_ id: String) -> ConnectionConfig? { connections.first { $0.id == id } }
}

public struct ConnectionConfig: Sendable {
    public var id: String
    public var plugin: String
    /// The plugin's own configuration, handed to validate_config and open as JSON.
    public var config: JSON
    /// Secret name the plugin asks for -> reference (`env:VAR`).
    public var secrets: [String: String]
    public var allowRawSecrets: Bool
    public var retry: RetryPolicy
    public var poll: PollConfig?
    /// HTTP egress through the host (allowlist, limits, injected credentials); nil = no network.
    public var egress: EgressPolicy?
    /// Where the plugin runs; nil: in-process if its id is trusted, else sandboxed.
    public var isolation: Isolation?
    /// Paths the sandboxed plugin may reach (`files:`); nothing else of the host's filesystem.
    public var files = FileGrants()
    public var location: SourceLocation
    public var secretLocations: [String: SourceLocation]
    /// Where each member of `config:` is written, by field path (`url`, `auth.client_id`, `items[0].id`),
    /// so a plugin's diagnostic points at the field's own line.
    public var configLocations: [String: SourceLocation] = [:]

    /// The line of the field a plugin named: the path itself, else its nearest written parent, else the connection.
    public func location(ofConfigField path: String) -> SourceLocation {
        var path = path
        while !path.isEmpty {
            if let at = configLocations[path] { return at }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            path = String(path[..<cut])
        }
        return configLocations[""] ?? location
    }
}

/// How a connection's failed work is retried: exponential backoff with full jitter.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts = 8
    public var baseDelayMillis: Int64 = 500
    public var maxDelayMillis: Int64 = 300_000
    /// Past this age (since the first attempt) an item goes to the exception queue.
    public var maxAgeMillis: Int64 = 86_400_000

    public init() {}

    /// The delay before attempt `attempt + 1` (attempt counts from 1): uniform in [0, min(max, base * 2^(attempt-1))].
    public func delay(afterAttempt attempt: Int, random: inout some RandomNumberGenerator) -> Int64 {
        let exponent = min(max(attempt - 1, 0), 30)
        let cap = min(maxDelayMillis, baseDelayMillis.multipliedReportingOverflow(by: Int64(1) << exponent).overflow
                      ? maxDelayMillis : baseDelayMillis << exponent)
        return Int64.random(in: 0...max(cap, 0), using: &random)
    }
}

public struct PollConfig: Sendable {
    public var everyMillis: Int64
    public var streams: [String]
    /// Records per read call: the cursor is checkpointed after each batch.
    public var batch: Int
}

public struct WorkflowConfig: Sendable {
    public var id: String
    public var trigger: Trigger
    public var steps: [WorkflowStep]
    public var location: SourceLocation

    public enum Trigger: Sendable {
        /// A business event (or `record.<Entity>` change), optionally only from one connection.
        case event(type: String, source: String?)
    }
}

public enum WorkflowStep: Sendable {
    /// Builds a new document from the current one.
    case map(FieldMapping)
    /// Hands the current document to a workflow plugin; its commands run in order.
    case call(plugin: String, config: JSON, location: SourceLocation)
    /// Upserts the current document at a connection as a canonical entity.
    case write(connection: String, entity: String)

    public var name: String {
        switch self {
        case .map: "map"
        case .call(let plugin, _, _): "call \(plugin)"
        case .write(let connection, let entity): "write \(entity) to \(connection)"
        }
    }
}

/// Master data kept in sync between connections, field by field per system of record.
public struct MasterDataConfig: Sendable {
    public var entity: String
    public var connections: [String]
    /// The connection that owns fields not listed in `fieldOwners`.
    public var owner: String
    public var fieldOwners: [String: String]
    public var location: SourceLocation
    /// What a change to a field made at a connection that does not own it does, unless `conflictPolicies` says.
    public var onConflict: ConflictPolicy = .raise
    public var conflictPolicies: [String: ConflictPolicy] = [:]

    /// A system-of-record conflict's handling (docs/RUNTIME.md, "Conflicts on owned fields").
    public enum ConflictPolicy: String, Sendable, CaseIterable {
        /// An exception item (reason `conflict`) showing both values, for a person to decide.
        case raise
        /// The owner's value is written back where it was changed, with an audit row.
        case restore
    }

    /// The connection that owns `field`.
    public func owner(of field: String) -> String { fieldOwners[field] ?? owner }

    /// How a conflict on `field` is handled.
    public func policy(for field: String) -> ConflictPolicy { conflictPolicies[field] ?? onConflict }

    /// The built-in workflow id that carries this sync.
    public var workflowID: String { "master-data:\(entity)" }
}

/// Everything wrong with a configuration, each with its file:line.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public var location: SourceLocation?
        public var message: String
        public var description: String { location.map { "\($0): \(message)" } ?? message }

        public init(location: SourceLocation?, message: String) {
            self.location = location
            self.message = message
        }
    }

    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
