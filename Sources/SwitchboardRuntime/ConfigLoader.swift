import Foundation
import SwitchboardCore
import SwitchboardSandbox
import SwitchboardEgress
import SwitchboardPackages
import SwitchboardStore
import Yams

/// Reads a YAML configuration into a SwitchboardConfig, collecting every
/// problem with its file:line:column instead of stopping at the first.
public enum ConfigLoader {
    /// `stores`: the store drivers this process knows (its composition root's list); a `store:` URL no
    /// driver opens is an error at its line.
    public static func load(file: String, stores: StoreDrivers = .embedded, installed: InstalledPackages? = nil) throws(ConfigError) -> SwitchboardConfig {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [.init(location: nil, message: "\(file): cannot read the configuration file")])
        }
        return try parse(text, file: file, stores: stores, installed: installed)
    }

    public static func parse(_ text: String, file: String, stores: StoreDrivers = .embedded,
                             installed: InstalledPackages? = nil) throws(ConfigError) -> SwitchboardConfig {
        let root = try document(text, file: file)
        var reader = ConfigReader(file: file)
        reader.stores = stores
        reader.installed = installed
        let config = reader.config(root)
        guard reader.problems.isEmpty, let config else { throw ConfigError(problems: reader.problems) }
        return config
    }

    /// The YAML tree of a file, or its syntax error at file:line:column (read it with a ConfigReader).
    public static func document(_ text: String, file: String) throws(ConfigError) -> Node {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(problems: [.init(location: SourceLocation(file: file, line: 1, column: 1), message: "the file is empty")])
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError(problems: [yamlProblem(error, file: file)])
        } catch {
            throw ConfigError(problems: [.init(location: nil, message: "\(file): \(error)")])
        }
        return root
    }

    static func yamlProblem(_ error: YamlError, file: String) -> ConfigError.Problem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return .init(location: SourceLocation(file: file, line: mark.line, column: mark.column), message: "malformed YAML: \(problem)")
        default:
            return .init(location: SourceLocation(file: file, line: 1, column: 1), message: "malformed YAML: \(error)")
        }
    }
}

/// Walks the YAML tree; each accessor records a located problem and returns nil on a wrong shape.
/// Public so that every YAML file the product reads (the plugin test runner's fixtures too) is read
/// one way, with the same file:line:column errors.
public struct ConfigReader {
    public let file: String
    public var problems: [ConfigError.Problem] = []
    /// The top-level `retention:` policy, which each tenant's own overrides.
    var retentionDefaults = RetentionPolicy.standard

    /// The store drivers a `store:` URL is checked against.
    public var stores = StoreDrivers.embedded

    /// What each tenant runs from packages; nil reads `installed.json` from the packages directory (an install
    /// validates its proposed state through this before committing it).
    public var installed: InstalledPackages?

    public init(file: String) { self.file = file }

    public func at(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    public mutating func fail(_ node: Node, _ message: String) { problems.append(.init(location: at(node), message: message)) }

    /// The members of a mapping, checking that no key outside `allowed` appears.
    public mutating func mapping(_ node: Node, _ what: String, allowed: [String]) -> [String: Node]? {
        guard case .mapping(let m) = node else {
            fail(node, "\(what) must be a mapping")
            return nil
        }
        var out: [String: Node] = [:]
        for (key, value) in m {
            guard let name = key.string else { continue }
            if !allowed.contains(name) {
                fail(key, "unknown key \"\(name)\" in \(what) (allowed: \(allowed.joined(separator: ", ")))")
            } else if out[name] != nil {
                fail(key, "duplicate key \"\(name)\" in \(what)")
            }
            out[name] = value
        }
        return out
    }

    public mutating func sequence(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let s) = node else {
            fail(node, "\(what) must be a list")
            return nil
        }
        return Array(s)
    }

    public mutating func string(_ node: Node?, _ what: String, parent: Node) -> String? {
        guard let node else {
            fail(parent, "\(what) is required")
            return nil
        }
        guard case .scalar(let s) = node, !s.string.isEmpty else {
            fail(node, "\(what) must be a non-empty string")
            return nil
        }
        return s.string
    }

    mutating func identifier(_ node: Node?, _ what: String, parent: Node) -> String? {
        guard let text = string(node, what, parent: parent) else { return nil }
        guard PluginDescriptor.isValidID(text) else {
            fail(node!, "\(what) \"\(text)\" must match [a-z0-9][a-z0-9._-]{0,63}")
            return nil
        }
        return text
    }

    public mutating func int(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard let value = node.int, range.contains(value) else {
            fail(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    /// `500ms`, `2s`, `5m`, `24h`, or a number of seconds.
    public mutating func duration(_ node: Node, _ what: String) -> Int64? {
        guard case .scalar(let s) = node else {
            fail(node, "\(what) must be a duration such as 500ms, 2s, 5m or 24h")
            return nil
        }
        let text = s.string
        if let millis = DurationText.millis(text) { return millis }
        fail(node, "\(what) \"\(text)\" is not a duration (use 500ms, 2s, 5m or 24h)")
        return nil
    }

    /// Any YAML as JSON (plugin configs).
    public mutating func json(_ node: Node) -> JSON {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if node.null != nil { return .null }
                if let b = node.bool { return .bool(b) }
                if node.int != nil || node.float != nil, CanonicalValidator.isDecimal(s.string) || Double(s.string) != nil {
                    return .number(s.string)
                }
            }
            return .string(s.string)
        case .mapping(let m):
            return .object(m.compactMap { key, value in key.string.map { ($0, json(value)) } })
        case .sequence(let seq):
            return .array(seq.map { json($0) })
        case .alias:
            fail(node, "YAML aliases are not supported in plugin configs")
            return .null
        }
    }

    mutating func config(_ root: Node) -> SwitchboardConfig? {
        guard let top = mapping(root, "the configuration", allowed: ["version", "store", "plugins", "packages", "worker", "tenants", "branding", "retention"]) else { return nil }
        if let version = top["version"], version.int != 1 { fail(version, "version must be 1") }
        var store = "sqlite:" + resolve("switchboard.db")
        if let node = top["store"], let url = string(node, "store", parent: root) {
            if let driver = stores.driver(for: url) {
                // Checked here so a malformed URL (or one holding a password) names its line; a password is read at open.
                do { store = try driver.normalize(url: url, resolve: resolve) } catch { fail(node, "store: \(error)") }
            } else {
                fail(node, "store \"\(url.prefix { $0 != ":" }):...\" is not supported (use \(stores.forms))")
            }
        }
        // The plugin directory: `plugins:` in the file, else $SWITCHBOARD_PLUGIN_DIR, else ./plugins beside the file.
        var pluginDir = ProcessInfo.processInfo.environment["SWITCHBOARD_PLUGIN_DIR"].map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? resolve("plugins")
        var pluginDirConfigured = ProcessInfo.processInfo.environment["SWITCHBOARD_PLUGIN_DIR"] != nil
        var trusted = Set<String>()
        var trustedPublishers = Set<String>()
        var strict = false
        var sandbox = SandboxSettings()
        if let node = top["plugins"] {
            if case .mapping = node {
                if let p = mapping(node, "plugins", allowed: ["dir", "trusted", "trusted_publishers", "sandbox", "strict"]) {
                    if let d = p["dir"], let dir = string(d, "plugins.dir", parent: node) {
                        pluginDir = resolve(dir)
                        pluginDirConfigured = true
                    }
                    for item in p["trusted"].flatMap({ sequence($0, "plugins.trusted") }) ?? [] {
                        if let id = identifier(item, "plugins.trusted entry", parent: node) { trusted.insert(id) }
                    }
                    for item in p["trusted_publishers"].flatMap({ sequence($0, "plugins.trusted_publishers") }) ?? [] {
                        if let name = identifier(item, "plugins.trusted_publishers entry", parent: node) { trustedPublishers.insert(name) }
                    }
                    if let n = p["sandbox"] { sandbox = sandboxSettings(n) }
                    if let n = p["strict"] {
                        if let v = n.bool { strict = v } else { fail(n, "plugins.strict must be true or false") }
                    }
                }
            } else if let dir = string(node, "plugins", parent: root) {
                pluginDir = resolve(dir)
                pluginDirConfigured = true
            }
        }
        var worker = WorkerSettings()
        if let node = top["worker"], let w = mapping(node, "worker", allowed: ["batch", "lease", "idle", "deadline", "scheduler_stall", "stop_timeout"]) {
            if let n = w["batch"], let v = int(n, "worker.batch", range: 1...10_000) { worker.batch = v }
            if let n = w["lease"], let v = duration(n, "worker.lease") { worker.leaseMillis = v }
            if let n = w["idle"], let v = duration(n, "worker.idle") { worker.idleMillis = v }
            if let n = w["deadline"], let v = duration(n, "worker.deadline") { worker.deadlineMillis = v }
            if let n = w["stop_timeout"], let v = duration(n, "worker.stop_timeout") { worker.stopTimeoutMillis = max(v, 100) }
            if let n = w["scheduler_stall"], let v = duration(n, "worker.scheduler_stall") {
                if v <= worker.deadlineMillis {
                    fail(n, "worker.scheduler_stall must be longer than worker.deadline (\(worker.deadlineMillis) ms): a healthy scheduler's poll may take that long")
                } else {
                    worker.schedulerStallMillis = v
                }
            }
        }
        var retention = RetentionSettings()
        if let node = top["retention"],
           let m = mapping(node, "retention", allowed: Self.retentionKeys + ["audit", "every"]) {
            retentionDefaults = retentionPolicy(m, node, "retention", base: .standard)
            if let n = m["every"], let v = duration(n, "retention.every") { retention.everyMillis = max(v, 1_000) }
            if let n = m["audit"], let v = keepFor(n, "retention.audit") { retention.auditMillis = v }
        }
        var tenants: [TenantConfig] = []
        if let node = top["tenants"], let list = sequence(node, "tenants") {
            for item in list { if let t = tenant(item) { tenants.append(t) } }
            var seen = Set<String>()
            for (t, item) in zip(tenants, list) where !seen.insert(t.id).inserted { fail(item, "duplicate tenant id \"\(t.id)\"") }
        } else if top["tenants"] == nil {
            fail(root, "tenants is required (a list of client firms)")
        }
        var packagesDir = resolve("packages")
        if let node = top["packages"], let dir = string(node, "packages", parent: root) { packagesDir = resolve(dir) }
        if problems.isEmpty { mergeInstalledPackages(into: &tenants, directory: packagesDir) }
        var branding = Branding()
        if let node = top["branding"], let b = mapping(node, "branding", allowed: ["name", "logo_url", "primary_color", "accent_color"]) {
            if let n = b["name"], let v = string(n, "branding.name", parent: node) { branding.name = v }
            if let n = b["logo_url"], let v = string(n, "branding.logo_url", parent: node) {
                if v.hasPrefix("https://") || v.hasPrefix("http://") || v.hasPrefix("/") || v.hasPrefix("data:image/") { branding.logoURL = v }
                else { fail(n, "branding.logo_url must be an http(s) URL, a path or a data:image URL") }
            }
            for (key, keyPath) in [("primary_color", \Branding.primaryColor), ("accent_color", \Branding.accentColor)] {
                if let n = b[key], let v = string(n, "branding.\(key)", parent: node) {
                    let hex = v.dropFirst()
                    if v.hasPrefix("#"), [3, 6].contains(hex.count), hex.allSatisfy(\.isHexDigit) { branding[keyPath: keyPath] = v }
                    else { fail(n, "branding.\(key) must be a colour such as #1f6feb") }
                }
            }
        }
        var config = SwitchboardConfig(file: file, store: store, pluginDir: pluginDir, trustedPlugins: trusted, strictPlugins: strict, sandbox: sandbox,
                                       branding: branding, worker: worker, tenants: tenants, retention: retention)
        config.trustedPublishers = trustedPublishers
        config.packagesDir = packagesDir
        config.pluginDirConfigured = pluginDirConfigured
        return config
    }

    /// A retention duration: `90d`, `12h`..., or `forever` (nil).
    mutating func keepFor(_ node: Node, _ what: String) -> Int64?? {
        if node.string == "forever" { return .some(nil) }
        return duration(node, what).map { .some($0) } ?? nil
    }

    static let retentionKeys = ["done_transactions", "event_payloads", "step_timings", "dedupe_window"]

    /// A `retention:` mapping's per-tenant keys over `base`.
    mutating func retentionPolicy(_ m: [String: Node], _ node: Node, _ what: String, base: RetentionPolicy) -> RetentionPolicy {
        var policy = base
        if let n = m["done_transactions"], let v = keepFor(n, "\(what).done_transactions") { policy.doneTransactions = v }
        if let n = m["event_payloads"], let v = keepFor(n, "\(what).event_payloads") { policy.eventPayloads = v }
        if let n = m["step_timings"], let v = keepFor(n, "\(what).step_timings") { policy.stepTimings = v }
        if let n = m["dedupe_window"], let v = keepFor(n, "\(what).dedupe_window") { policy.dedupeWindow = v }
        // Event rows go last: their work must be gone first, and a redelivery inside the window stays a no-op.
        if let events = policy.dedupeWindow, (policy.doneTransactions ?? .max) > events {
            fail(m["dedupe_window"] ?? node, "\(what).dedupe_window must be at least done_transactions: an event row goes only after its transaction")
        }
        return policy
    }

    /// `plugins.sandbox:` — worker limits and supervision (docs/SANDBOX.md).
    mutating func sandboxSettings(_ node: Node) -> SandboxSettings {
        var settings = SandboxSettings()
        guard let m = mapping(node, "plugins.sandbox", allowed: ["memory_mb", "cpu_seconds", "open_files", "restart_backoff",
                                                                 "max_restart_backoff", "breaker_failures", "breaker_cooldown", "grace",
                                                                 "start_timeout", "detach_after", "uid", "gid", "filesystem"]) else {
            return settings
        }
        if let n = m["memory_mb"], let v = int(n, "plugins.sandbox.memory_mb", range: 128...1_048_576) { settings.limits.memoryMB = v }
        if let n = m["cpu_seconds"], let v = int(n, "plugins.sandbox.cpu_seconds", range: 1...31_536_000) { settings.limits.cpuSeconds = v }
        if let n = m["open_files"], let v = int(n, "plugins.sandbox.open_files", range: 16...1_048_576) { settings.limits.openFiles = v }
        if let n = m["restart_backoff"], let v = duration(n, "plugins.sandbox.restart_backoff") { settings.restartBackoffMillis = v }
        if let n = m["max_restart_backoff"], let v = duration(n, "plugins.sandbox.max_restart_backoff") { settings.maxRestartBackoffMillis = v }
        if let n = m["breaker_failures"], let v = int(n, "plugins.sandbox.breaker_failures", range: 1...1000) { settings.breakerFailures = v }
        if let n = m["breaker_cooldown"], let v = duration(n, "plugins.sandbox.breaker_cooldown") { settings.breakerCooldownMillis = v }
        if let n = m["grace"], let v = duration(n, "plugins.sandbox.grace") { settings.graceMillis = v }
        if let n = m["start_timeout"], let v = duration(n, "plugins.sandbox.start_timeout") { settings.startMillis = max(v, 100) }
        if let n = m["detach_after"], let v = duration(n, "plugins.sandbox.detach_after") { settings.detachAfterMillis = v }
        if let n = m["filesystem"] {
            if let v = n.string.flatMap(FilesystemView.init(rawValue:)) { settings.filesystem = v }
            else { fail(n, "plugins.sandbox.filesystem must be auto, landlock or mount") }
        }
        if let n = m["uid"], let v = int(n, "plugins.sandbox.uid", range: 1...4_294_967_294) { settings.uid = UInt32(v) }
        if let n = m["gid"], let v = int(n, "plugins.sandbox.gid", range: 1...4_294_967_294) { settings.gid = UInt32(v) }
        return settings
    }

    mutating func tenant(_ node: Node) -> TenantConfig? {
        guard let t = mapping(node, "a tenant", allowed: ["id", "name", "connections", "workflows", "master_data", "sla_target", "retention"]) else { return nil }
        guard let id = identifier(t["id"], "tenant id", parent: node) else { return nil }
        let name = t["name"].flatMap { $0.string } ?? id
        var connections: [ConnectionConfig] = []
        if let list = t["connections"].flatMap({ sequence($0, "connections") }) {
            for item in list { if let c = connection(item) { connections.append(c) } }
            var seen = Set<String>()
            for (c, item) in zip(connections, list) where !seen.insert(c.id).inserted {
                fail(item, "duplicate connection id \"\(c.id)\" in tenant \(id)")
            }
        }
        let known = Set(connections.map(\.id))
        var masterData: [MasterDataConfig] = []
        if let list = t["master_data"].flatMap({ sequence($0, "master_data") }) {
            for item in list { if let m = master(item, connections: known) { masterData.append(m) } }
        }
        var workflows: [WorkflowConfig] = []
        if let list = t["workflows"].flatMap({ sequence($0, "workflows") }) {
            for item in list { if let w = workflow(item, connections: known) { workflows.append(w) } }
            var seen = Set<String>()
            for (w, item) in zip(workflows, list) where !seen.insert(w.id).inserted {
                fail(item, "duplicate workflow id \"\(w.id)\" in tenant \(id)")
            }
        }
        let sla = t["sla_target"].flatMap { duration($0, "sla_target") } ?? 15 * 60_000
        var retention = retentionDefaults
        if let node = t["retention"], let m = mapping(node, "tenant \(id) retention", allowed: Self.retentionKeys) {
            retention = retentionPolicy(m, node, "tenant \(id) retention", base: retentionDefaults)
        }
        return TenantConfig(id: id, name: name, connections: connections, workflows: workflows, masterData: masterData,
                            slaTargetMillis: sla, retention: retention, location: at(node))
    }

    mutating func connection(_ node: Node) -> ConnectionConfig? {
        guard let c = mapping(node, "a connection", allowed: ["id", "plugin", "config", "secrets", "allow_raw_secrets", "retry", "poll", "egress", "isolation", "files"]) else {
            return nil
        }
        guard let id = identifier(c["id"], "connection id", parent: node),
              let plugin = identifier(c["plugin"], "plugin", parent: node) else { return nil }
        if id == CanonicalID.reservedSource {
            fail(c["id"]!, "connection id \"\(id)\" is reserved: events emitted by workflows have the source \"\(id):WORKFLOW\"")
        }
        var secrets: [String: String] = [:]
        var secretLocations: [String: SourceLocation] = [:]
        if let s = c["secrets"], case .mapping(let m) = s {
            for (key, value) in m {
                guard let name = key.string, let reference = string(value, "secret \(name)", parent: key) else { continue }
                if !reference.hasPrefix("env:") && !reference.hasPrefix("vault:") {
                    fail(value, "secret reference \"\(reference)\" must be vault:NAME or env:VARIABLE")
                }
                secrets[name] = reference
                secretLocations[name] = at(value)
            }
        } else if let s = c["secrets"] {
            fail(s, "secrets must be a mapping of name: reference")
        }
        var retry = RetryPolicy()
        if let r = c["retry"], let m = mapping(r, "retry", allowed: ["max_attempts", "base_delay", "max_delay", "max_age"]) {
            if let n = m["max_attempts"], let v = int(n, "retry.max_attempts", range: 1...1000) { retry.maxAttempts = v }
            if let n = m["base_delay"], let v = duration(n, "retry.base_delay") { retry.baseDelayMillis = v }
            if let n = m["max_delay"], let v = duration(n, "retry.max_delay") { retry.maxDelayMillis = v }
            if let n = m["max_age"], let v = duration(n, "retry.max_age") { retry.maxAgeMillis = v }
        }
        var poll: PollConfig?
        if let p = c["poll"], let m = mapping(p, "poll", allowed: ["every", "streams", "batch"]) {
            let every = m["every"].flatMap { duration($0, "poll.every") } ?? 5000
            let streams = m["streams"].flatMap { sequence($0, "poll.streams") }?.compactMap { $0.string } ?? []
            if streams.isEmpty { fail(p, "poll.streams must list at least one stream") }
            let batch = m["batch"].flatMap { int($0, "poll.batch", range: 1...100_000) } ?? 500
            poll = PollConfig(everyMillis: max(every, 10), streams: streams, batch: batch)
        }
        let allowRaw = c["allow_raw_secrets"]?.bool ?? false
        var isolation: Isolation?
        if let n = c["isolation"] {
            isolation = n.string.flatMap(Isolation.init(rawValue:))
            if isolation == nil { fail(n, "isolation must be inprocess or sandbox") }
        }
        var egress = c["egress"].flatMap { egressPolicy($0) }
        if let policy = egress, case .none = policy.auth { egress?.pluginAuthorization = allowRaw }
        let files = c["files"].flatMap { fileGrants($0) } ?? FileGrants()
        var connection = ConnectionConfig(id: id, plugin: plugin, config: c["config"].map { json($0) } ?? .object([]), secrets: secrets,
                                          allowRawSecrets: allowRaw, retry: retry, poll: poll, egress: egress, isolation: isolation,
                                          files: files, location: at(node), secretLocations: secretLocations)
        if let config = c["config"] { connection.configLocations = locations(config) }
        return connection
    }

    /// Where each member of a plugin's `config:` is written, by field path ("" is the block itself).
    func locations(_ node: Node, path: String = "") -> [String: SourceLocation] {
        var out = [path: at(node)]
        switch node {
        case .mapping(let m):
            for (key, value) in m {
                guard let name = key.string else { continue }
                let member = path.isEmpty ? name : "\(path).\(name)"
                out.merge(locations(value, path: member)) { a, _ in a }
                out[member] = at(key)   // the key's line: where the field is written
            }
        case .sequence(let items):
            for (i, item) in items.enumerated() { out.merge(locations(item, path: "\(path)[\(i)]")) { a, _ in a } }
        default: break
        }
        return out
    }

    /// A path from the file: absolute, or relative to the configuration file's directory.
    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: file).deletingLastPathComponent().path + "/" + path
    }

    /// `files:` — the paths a sandboxed connection may read (`read:`) or write (`write:`), absolute or
    /// relative to the configuration file (docs/SANDBOX.md).
    mutating func fileGrants(_ node: Node) -> FileGrants? {
        guard let f = mapping(node, "files", allowed: ["read", "write"]) else { return nil }
        var grants = FileGrants()
        for (key, keyPath) in [("read", \FileGrants.read), ("write", \FileGrants.write)] {
            for item in f[key].flatMap({ sequence($0, "files.\(key)") }) ?? [] {
                guard let path = string(item, "files.\(key) entry", parent: node) else { continue }
                if path.isEmpty { fail(item, "files.\(key): an empty path"); continue }
                grants[keyPath: keyPath].append(resolve(path))
            }
        }
        return grants
    }

    /// `egress:` — allow, timeouts, max_response, rate, auth (credential values are vault:/env: references).
    /// `requireAllow: false` for a caller that adds hosts of its own (the plugin test runner's fixture server).
    public mutating func egressPolicy(_ node: Node, requireAllow: Bool = true) -> EgressPolicy? {
        guard let e = mapping(node, "egress", allowed: ["allow", "timeouts", "max_response", "rate", "auth"]) else { return nil }
        let allow = e["allow"].flatMap { sequence($0, "egress.allow") }?.compactMap { $0.string } ?? []
        if allow.isEmpty && requireAllow { fail(node, "egress.allow must list at least one host (host or host:port)") }
        var policy = EgressPolicy(allow: allow)
        if let t = e["timeouts"], let m = mapping(t, "egress.timeouts", allowed: ["connect", "read"]) {
            if let n = m["connect"], let v = duration(n, "egress.timeouts.connect") { policy.connectTimeoutMillis = max(v, 1) }
            if let n = m["read"], let v = duration(n, "egress.timeouts.read") { policy.readTimeoutMillis = max(v, 1) }
        }
        if let n = e["max_response"], let v = int(n, "egress.max_response", range: 1...1_073_741_824) { policy.maxResponseBytes = v }
        if let r = e["rate"], let m = mapping(r, "egress.rate", allowed: ["per_second", "burst", "concurrency"]) {
            if let n = m["per_second"] {
                if let v = n.float, v > 0 { policy.ratePerSecond = v } else { fail(n, "egress.rate.per_second must be a positive number") }
            }
            if let n = m["burst"], let v = int(n, "egress.rate.burst", range: 1...100_000) { policy.burst = v }
            if let n = m["concurrency"], let v = int(n, "egress.rate.concurrency", range: 1...1000) { policy.concurrency = v }
        }
        if let a = e["auth"], let m = mapping(a, "egress.auth", allowed: ["type", "token", "username", "password", "header", "value",
                                                                            "token_url", "client_id", "client_secret", "scope", "refresh_token"]) {
            func ref(_ key: String) -> String? {
                guard let value = string(m[key], "egress.auth.\(key)", parent: a) else { return nil }
                if !value.hasPrefix("vault:") && !value.hasPrefix("env:") {
                    fail(m[key]!, "egress.auth.\(key) must be a secret reference (vault:NAME or env:VARIABLE), never the value itself")
                    return nil
                }
                return value
            }
            switch m["type"]?.string {
            case "bearer": if let t = ref("token") { policy.auth = .bearer(token: t) }
            case "basic": if let u = ref("username"), let p = ref("password") { policy.auth = .basic(username: u, password: p) }
            case "api_key":
                if let h = string(m["header"], "egress.auth.header", parent: a), let v = ref("value") { policy.auth = .apiKey(header: h, value: v) }
            case "oauth2_client_credentials":
                if let url = string(m["token_url"], "egress.auth.token_url", parent: a), let id = ref("client_id"), let secret = ref("client_secret") {
                    policy.auth = .oauth2ClientCredentials(tokenURL: url, clientID: id, clientSecret: secret, scope: m["scope"]?.string)
                }
            case "oauth2_refresh_token":
                if let url = string(m["token_url"], "egress.auth.token_url", parent: a), let id = ref("client_id"), let refresh = ref("refresh_token") {
                    policy.auth = .oauth2RefreshToken(tokenURL: url, clientID: id, clientSecret: m["client_secret"] == nil ? nil : ref("client_secret"),
                                                      refreshToken: refresh)
                }
            case "none", nil: break
            case let other?: fail(m["type"]!, "egress.auth.type \"\(other)\" is not one of bearer, basic, api_key, oauth2_client_credentials, oauth2_refresh_token, none")
            }
        }
        return policy
    }

    mutating func master(_ node: Node, connections: Set<String>) -> MasterDataConfig? {
        guard let m = mapping(node, "a master_data entry", allowed: ["entity", "connections", "system_of_record"]) else { return nil }
        guard let entity = string(m["entity"], "entity", parent: node) else { return nil }
        if !CanonicalModel.masterDataEntities.contains(entity) {
            fail(m["entity"]!, "\(entity) is not master data (use one of: \(CanonicalModel.masterDataEntities.sorted().joined(separator: ", ")))")
        }
        let members = m["connections"].flatMap { sequence($0, "connections") }?.compactMap { $0.string } ?? []
        if members.count < 2 { fail(node, "master_data \(entity) needs at least two connections") }
        for name in members where !connections.contains(name) { fail(m["connections"]!, "unknown connection \"\(name)\"") }
        guard let sorNode = m["system_of_record"], let sor = mapping(sorNode, "system_of_record", allowed: ["owner", "fields", "on_conflict", "conflicts"]),
              let owner = string(sor["owner"], "system_of_record.owner", parent: sorNode) else {
            if m["system_of_record"] == nil { fail(node, "master_data \(entity) needs a system_of_record with an owner") }
            return nil
        }
        if !members.contains(owner) { fail(sor["owner"]!, "system_of_record.owner \"\(owner)\" is not one of this entry's connections") }
        var fieldOwners: [String: String] = [:]
        if let fields = sor["fields"], case .mapping(let fm) = fields {
            let known = Set(CanonicalModel.entity(entity)?.fields.map(\.name) ?? [])
            for (key, value) in fm {
                guard let field = key.string, let who = value.string else { continue }
                if !known.contains(field) { fail(key, "\(entity) has no field \"\(field)\"") }
                if !members.contains(who) { fail(value, "\"\(who)\" is not one of this entry's connections") }
                fieldOwners[field] = who
            }
        }
        var config = MasterDataConfig(entity: entity, connections: members, owner: owner, fieldOwners: fieldOwners, location: at(node))
        let policies = MasterDataConfig.ConflictPolicy.allCases.map(\.rawValue).joined(separator: " or ")
        if let node = sor["on_conflict"] {
            if let policy = node.string.flatMap(MasterDataConfig.ConflictPolicy.init(rawValue:)) { config.onConflict = policy }
            else { fail(node, "system_of_record.on_conflict must be \(policies)") }
        }
        if let conflicts = sor["conflicts"] {
            guard case .mapping(let fields) = conflicts else {
                fail(conflicts, "system_of_record.conflicts maps a field to \(policies)")
                return config
            }
            let known = Set(CanonicalModel.entity(entity)?.fields.map(\.name) ?? [])
            for (key, value) in fields {
                guard let field = key.string else { continue }
                if !known.contains(field) { fail(key, "\(entity) has no field \"\(field)\"") }
                guard let policy = value.string.flatMap(MasterDataConfig.ConflictPolicy.init(rawValue:)) else {
                    fail(value, "system_of_record.conflicts.\(field) must be \(policies)")
                    continue
                }
                config.conflictPolicies[field] = policy
            }
        }
        return config
    }

    mutating func workflow(_ node: Node, connections: Set<String>) -> WorkflowConfig? {
        guard let w = mapping(node, "a workflow", allowed: ["id", "trigger", "steps"]) else { return nil }
        guard let id = identifier(w["id"], "workflow id", parent: node) else { return nil }
        guard let triggerNode = w["trigger"], let t = mapping(triggerNode, "trigger", allowed: ["event", "source"]),
              let event = string(t["event"], "trigger.event", parent: triggerNode) else {
            if w["trigger"] == nil { fail(node, "workflow \(id) needs a trigger") }
            return nil
        }
        if CanonicalModel.event(event) == nil && !(Ingestor.recordEntity(event).map { CanonicalModel.entity($0) != nil } ?? false) {
            fail(t["event"]!, "unknown trigger event \"\(event)\" (business events: \(CanonicalModel.events.map(\.name).joined(separator: ", ")); or record.<Entity>)")
        }
        let source = t["source"].flatMap { $0.string }
        if let source, !connections.contains(source) { fail(t["source"]!, "unknown connection \"\(source)\"") }
        var steps: [WorkflowStep] = []
        guard let stepNodes = w["steps"].flatMap({ sequence($0, "steps") }), !stepNodes.isEmpty else {
            fail(node, "workflow \(id) needs at least one step")
            return nil
        }
        for stepNode in stepNodes {
            guard let s = mapping(stepNode, "a step", allowed: ["map", "call", "write"]), s.count == 1, let (kind, body) = s.first else {
                fail(stepNode, "a step is exactly one of map, call or write")
                continue
            }
            switch kind {
            case "map":
                guard case .mapping(let m) = body else {
                    fail(body, "map must be a mapping of target field: expression")
                    continue
                }
                var assignments: [(target: String, expression: MappingExpression)] = []
                for (key, value) in m {
                    guard let target = key.string, let source = value.string else { continue }
                    do {
                        assignments.append((target, try MappingExpression.parse(source)))
                    } catch {
                        fail(value, "map \(target): \(error.message) (at column \(error.column) of \"\(source)\")")
                    }
                }
                steps.append(.map(FieldMapping(assignments)))
            case "call":
                if let plugin = body.string {
                    steps.append(.call(plugin: plugin, config: .object([]), location: at(body)))
                } else if let m = mapping(body, "call", allowed: ["plugin", "config"]), let plugin = identifier(m["plugin"], "call.plugin", parent: body) {
                    steps.append(.call(plugin: plugin, config: m["config"].map { json($0) } ?? .object([]), location: at(body)))
                }
            default:
                guard let m = mapping(body, "write", allowed: ["connection", "entity"]),
                      let connection = string(m["connection"], "write.connection", parent: body),
                      let entity = string(m["entity"], "write.entity", parent: body) else { continue }
                if !connections.contains(connection) { fail(m["connection"]!, "unknown connection \"\(connection)\"") }
                if CanonicalModel.entity(entity) == nil { fail(m["entity"]!, "unknown canonical entity \"\(entity)\"") }
                steps.append(.write(connection: connection, entity: entity))
            }
        }
        return WorkflowConfig(id: id, trigger: .event(type: event, source: source), steps: steps, location: at(node))
    }
}
