import Foundation
import Logging
import SwitchboardCore
import SwitchboardEgress
import SwitchboardHost
import SwitchboardSandbox

/// What `switchboard plugin test` runs, and with what.
public struct ConformanceOptions: Sendable {
    public var path: String
    /// The config to open the plugin with; nil builds one from the spec's required fields.
    public var config: [UInt8]?
    public var fuzzIterations = 10_000
    public var seed: UInt64 = 1
    /// Time budget of each check; the fuzz check has its own.
    public var stepBudgetSeconds: Double = 30
    public var fuzzBudgetSeconds: Double = 300
    /// Deadline of each plugin call; a call past it (plus the grace) is a hang.
    public var callTimeoutMillis: Int64 = 5_000
    /// Run the plugin's operations under valgrind and fail on a definite leak or invalid access.
    public var leaks = false
    /// Where inputs that crashed the plugin are saved (nil: not saved).
    public var artifactsDir: String?
    /// The remote system the connector talks to (docs/CONFORMANCE.md): served on loopback, or a test instance.
    public var fixture: Fixture?
    public var sandbox = SandboxSettings()

    public init(path: String) {
        self.path = path
        // Failures are what the runner looks for: restart at once, never open the circuit.
        sandbox.restartBackoffMillis = 0
        sandbox.maxRestartBackoffMillis = 0
        sandbox.breakerFailures = Int.max
        sandbox.graceMillis = 1_000
    }
}

/// The partner conformance runner: loads a plugin in the sandbox and checks
/// the ABI contract (docs/ABI.md) one rule at a time.
public enum ConformanceRunner {
    public static func run(_ options: ConformanceOptions, progress: @escaping (String) -> Void = { _ in }) -> ConformanceReport {
        let session = ConformanceSession(options: options, progress: progress)
        session.runAll()
        return ConformanceReport(path: options.path, pluginID: session.plugin?.pluginID, checks: session.results)
    }
}

final class ConformanceSession {
    let options: ConformanceOptions
    let progress: (String) -> Void
    var results: [CheckResult] = []
    var plugin: SandboxedPlugin?
    let egress = ScriptedEgress()
    /// The fixture's server (a served fixture) and the real host egress that reaches it or the test instance.
    var server: FixtureServer?
    var fixtureEgress: HTTPEgress?
    var fixtureSecrets: (any SecretResolver)?
    let state = MemoryState()
    var spec: JSON?
    var config: [UInt8] = Array("{}".utf8)
    var opened = false
    var streams: [(name: String, entity: String)] = []
    var writes: [String] = []
    /// Every outcome seen, for the error-classification check.
    var outcomes: [(op: String, outcome: CallOutcome)] = []

    init(options: ConformanceOptions, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    var deadline: Int64 { Clock.monotonicNanoseconds() + options.callTimeoutMillis * 1_000_000 }

    /// Worker failures (crash, hang, OOM, exit, protocol) so far.
    var workerFailures: Int { plugin.map { $0.status.failures.filter { $0.key != .cancelled }.values.reduce(0, +) } ?? 0 }

    struct Finding {
        var status: CheckResult.Status
        var summary: String
        var details: [String] = []
    }

    func check(_ name: String, budget: Double? = nil, _ body: () -> Finding) {
        progress(name)
        let start = Clock.monotonicNanoseconds()
        let failuresBefore = workerFailures
        var finding = body()
        let seconds = Double(Clock.monotonicNanoseconds() - start) / 1e9
        let limit = budget ?? options.stepBudgetSeconds
        if seconds > limit && finding.status != .failed {
            finding = Finding(status: .failed, summary: String(format: "took %.1f s, over its %.0f s budget", seconds, limit), details: finding.details)
        }
        if workerFailures > failuresBefore && finding.status != .failed {
            finding = Finding(status: .failed, summary: "the plugin's worker failed: \(plugin?.status.lastFailure ?? "?")", details: finding.details)
        }
        results.append(CheckResult(name: name, status: finding.status, summary: finding.summary, details: finding.details, seconds: seconds))
    }

    func skip(_ name: String, _ why: String) {
        results.append(CheckResult(name: name, status: .skipped, summary: why))
    }

    func note(_ op: String, _ outcome: CallOutcome) -> CallOutcome {
        outcomes.append((op, outcome))
        return outcome
    }

    func runAll() {
        if let fixture = options.fixture {
            guard startFixture(fixture) else { return }
        }
        defer { server?.stop() }
        checkLoad()
        guard let plugin else {
            for name in ["spec.json_schema", "validate_config.accepts_good", "validate_config.rejects_bad", "open", "check_connection.classifies",
                         "discover.catalog", "read.records_valid", "read.resumes_from_state", "write.idempotent", "write.updates", "errors.classified",
                         "errors.http_classified", "fuzz.boundary", "output.quiet"] {
                skip(name, "the plugin did not load")
            }
            return
        }
        defer { plugin.close() }
        checkSpec(plugin)
        checkConfigs(plugin)
        checkOpen(plugin)
        if opened {
            plugin.info.has(.check) ? checkConnectionClassification(plugin) : skip("check_connection.classifies", "the plugin does not declare check_connection")
            plugin.info.has(.discover) ? checkDiscover(plugin) : skip("discover.catalog", "the plugin does not declare discover")
            if plugin.info.has(.read) { checkRead(plugin) } else {
                skip("read.records_valid", "the plugin does not declare read")
                skip("read.resumes_from_state", "the plugin does not declare read")
            }
            if plugin.info.has(.write) { checkWrite(plugin) } else {
                skip("write.idempotent", "the plugin does not declare write")
                skip("write.updates", "the plugin does not declare write")
            }
        } else {
            for name in ["check_connection.classifies", "discover.catalog", "read.records_valid", "read.resumes_from_state", "write.idempotent",
                         "write.updates"] {
                skip(name, "the instance did not open")
            }
        }
        checkErrors()
        if opened, let server { checkHTTPClasses(plugin, server) } else {
            skip("errors.http_classified", options.fixture == nil ? "no fixture (--fixture): no target to answer with each error"
                                                                 : "a test instance cannot be made to fail on cue; serve a fixture for this check")
        }
        checkFuzz(plugin)
        check("output.quiet") {
            let printed = plugin.printedBytes
            return printed == 0 ? Finding(status: .passed, summary: "nothing printed to stdout/stderr")
                : Finding(status: .failed, summary: "the plugin printed \(printed) bytes to stdout/stderr; log through host->log instead")
        }
        if options.leaks { checkLeaks() }
    }

    // MARK: the checks

    func checkLoad() {
        check("load.manifest_abi") {
            do throws(PluginLoadError) {
                let loaded = try SandboxedPlugin.load(path: options.path, settings: sandboxSettings)
                plugin = loaded
                let d = loaded.info.descriptor
                let h = loaded.hardening
                return Finding(status: .passed, summary: "\(d.id) \(d.version), \(d.kind.rawValue), ABI \(d.abiMajor).\(d.abiMinor) (negotiated 1.\(loaded.info.negotiatedMinor))",
                               details: ["capabilities: \(d.capabilities.joined(separator: ", "))",
                                         "sandbox: \(h.summary)"])
            } catch {
                return Finding(status: .failed, summary: "refused: \(error.description)", details: ["code: \(error.code)"])
            }
        }
    }

    var sandboxSettings: SandboxSettings {
        var s = options.sandbox
        s.defaultCallMillis = options.callTimeoutMillis
        return s
    }

    func checkSpec(_ plugin: SandboxedPlugin) {
        check("spec.json_schema") {
            let text: String
            do throws(PluginCallError) { text = try plugin.configSpec() } catch {
                _ = note("spec", error.outcome)
                return Finding(status: .failed, summary: "spec failed: \(error.outcome.summary)")
            }
            do {
                let schema = try JSON.parse(text)
                spec = schema
                let problems = SchemaShape.problems(schema)
                return problems.isEmpty ? Finding(status: .passed, summary: "a valid JSON Schema for an object (\(text.utf8.count) bytes)")
                    : Finding(status: .failed, summary: "the config spec is not a valid JSON Schema", details: problems)
            } catch {
                return Finding(status: .failed, summary: "the config spec is not JSON: \(error)")
            }
        }
    }

    /// The spec's properties: name, declared type, required.
    var properties: [(name: String, type: String?, required: Bool)] {
        guard let spec else { return [] }
        let required = Set(spec["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        return (spec["properties"]?.objectValue ?? []).map { ($0.0, $0.1["type"]?.stringValue, required.contains($0.0)) }
    }

    func sampleValue(_ type: String?, property: JSON?) -> JSON {
        if let first = property?["enum"]?.arrayValue?.first { return first }
        switch type {
        case "integer", "number": return .number("1")
        case "boolean": return .bool(true)
        case "object": return .object([])
        case "array": return .array([])
        default: return .string("https://conformance.invalid")
        }
    }

    func checkConfigs(_ plugin: SandboxedPlugin) {
        if let given = options.config {
            config = given
        } else if let fromFixture = options.fixture?.config(fixtureURL: server?.url ?? "") {
            config = fromFixture
        } else {
            let members = properties.filter(\.required).map { p in (p.name, sampleValue(p.type, property: spec?["properties"]?[p.name])) }
            config = JSON.object(members).bytes
        }
        let source = options.config != nil ? "the given config" : options.fixture?.config != nil ? "the fixture's config"
            : "a config built from the spec's required fields"
        check("validate_config.accepts_good") {
            let outcome = note("validate_config", plugin.validate(config: config))
            return outcome.isOK ? Finding(status: .passed, summary: "accepts \(source)")
                : Finding(status: .failed, summary: "rejects \(source): \(outcome.summary)", details: [String(decoding: config, as: UTF8.self)])
        }
        check("validate_config.rejects_bad") {
            guard let good = try? JSON.parse(config), case .object(let members) = good else {
                return Finding(status: .skipped, summary: "the good config is not a JSON object; nothing to vary")
            }
            var cases: [(label: String, config: JSON, field: String?)] = [("a JSON array instead of an object", .array([]), nil)]
            for p in properties {
                if p.required {
                    cases.append(("without required \(p.name)", .object(members.filter { $0.0 != p.name }), p.name))
                }
                if let type = p.type {
                    let wrong: JSON = type == "string" ? .number("12345") : .string("not-a-\(type)")
                    cases.append(("\(p.name) of the wrong type (\(wrong.typeName) for \(type))", good.setting(p.name, wrong), p.name))
                }
            }
            var failures: [String] = []
            for c in cases {
                let outcome = note("validate_config", plugin.validate(config: c.config.bytes))
                if outcome.status != .config {
                    failures.append("\(c.label): expected CONFIG, got \(outcome.summary)")
                } else if let field = c.field, !outcome.diagnostics.contains(where: { $0.fieldPath.contains(field) }) {
                    failures.append("\(c.label): CONFIG, but no diagnostic names the field path \"\(field)\" (got: \(outcome.summary))")
                }
            }
            return failures.isEmpty ? Finding(status: .passed, summary: "\(cases.count) bad configs rejected with CONFIG and field paths")
                : Finding(status: .failed, summary: "\(failures.count) of \(cases.count) bad configs not rejected properly", details: failures)
        }
    }

    func checkOpen(_ plugin: SandboxedPlugin) {
        check("open") {
            let services = InstanceServices(tenant: "conformance", connection: "under-test",
                                            logger: Logger(label: "conformance", factory: { _ in SwiftLogNoOpLogHandler() }),
                                            secrets: fixtureSecrets, rawSecretsAllowed: fixtureSecrets != nil,
                                            state: state, egress: fixtureEgress.map { $0 as any EgressClient } ?? egress)
            do throws(PluginCallError) {
                try plugin.open(config: config, services: services)
                opened = true
                return Finding(status: .passed, summary: "opened with \(String(decoding: config, as: UTF8.self).prefix(120))")
            } catch {
                _ = note("open", error.outcome)
                return Finding(status: .failed, summary: "open failed: \(error.outcome.summary)")
            }
        }
    }

    func checkConnectionClassification(_ plugin: SandboxedPlugin) {
        if let server {
            check("check_connection.classifies") { fixtureConnectionClassification(plugin, server) }
            return
        }
        if options.fixture != nil {
            // A test instance: it must answer OK; the error classes need a served fixture to fail on cue.
            check("check_connection.classifies") {
                let outcome = note("check_connection", plugin.checkConnection(deadline: deadline, labels: [:]))
                return outcome.isOK ? Finding(status: .passed, summary: "OK against the test instance (its error classes need a served fixture)")
                    : Finding(status: .failed, summary: "check_connection failed against the test instance: \(outcome.summary)")
            }
            return
        }
        check("check_connection.classifies") {
            let scenarios: [(ScriptedEgress.Scenario, OperationStatus)] = [
                (.ok, .ok), (.unauthorized, .auth), (.unavailable, .retry), (.unreachable, .retry), (.notAllowed, .config),
            ]
            let requestsBefore = egress.requests
            var details: [String] = []
            var wrong = 0
            for (scenario, expected) in scenarios {
                egress.scenario = scenario
                let outcome = note("check_connection", plugin.checkConnection(deadline: deadline, labels: [:]))
                let ok = outcome.status == expected
                if !ok && scenario != .ok { wrong += 1 }
                details.append("\(scenario.rawValue): \(outcome.status)\(ok ? "" : ", expected \(expected)")")
            }
            egress.scenario = .ok
            if egress.requests == requestsBefore {
                return Finding(status: .skipped, summary: "check_connection made no request through host egress; its classification cannot be observed")
            }
            return wrong == 0 ? Finding(status: .passed, summary: "AUTH, RETRY and CONFIG told apart", details: details)
                : Finding(status: .failed, summary: "\(wrong) failure(s) misclassified (an auth error must be AUTH, a transient one RETRY, a configuration one CONFIG)",
                          details: details)
        }
    }

    func checkDiscover(_ plugin: SandboxedPlugin) {
        check("discover.catalog") {
            let (outcome, catalog) = plugin.discover()
            _ = note("discover", outcome)
            guard outcome.isOK, let catalog else { return Finding(status: .failed, summary: "discover failed: \(outcome.summary)") }
            guard let json = try? JSON.parse(catalog), case .object = json else {
                return Finding(status: .failed, summary: "the catalog is not a JSON object", details: [String(catalog.prefix(200))])
            }
            var problems: [String] = []
            for (i, stream) in (json["streams"]?.arrayValue ?? []).enumerated() {
                guard let name = stream["name"]?.stringValue, !name.isEmpty else {
                    problems.append("streams[\(i)].name: missing")
                    continue
                }
                let entity = stream["entity"]?.stringValue ?? ""
                if CanonicalModel.entity(entity) == nil {
                    problems.append("streams[\(i)].entity: \"\(entity)\" is not a canonical entity")
                } else {
                    streams.append((name, entity))
                }
            }
            for (i, w) in (json["writes"]?.arrayValue ?? []).enumerated() {
                if let entity = w.stringValue, CanonicalModel.entity(entity) != nil { writes.append(entity) } else {
                    problems.append("writes[\(i)]: \(w.stringValue.map { "\"\($0)\"" } ?? w.typeName) is not a canonical entity")
                }
            }
            if json["streams"]?.arrayValue == nil && plugin.info.has(.read) { problems.append("streams: a reading connector must list its streams") }
            return problems.isEmpty ? Finding(status: .passed, summary: "\(streams.count) stream(s), \(writes.count) writable entit\(writes.count == 1 ? "y" : "ies"), all canonical")
                : Finding(status: .failed, summary: "the catalog names non-canonical types", details: problems)
        }
    }

    func checkRead(_ plugin: SandboxedPlugin) {
        guard !streams.isEmpty else {
            skip("read.records_valid", "no streams known (discover lists none)")
            skip("read.resumes_from_state", "no streams known (discover lists none)")
            return
        }
        var invalid: [String] = []
        var reemitted: [String] = []
        var stateProblems: [String] = []
        var total = 0
        var resumed = 0
        check("read.records_valid") {
            var chosen = Array(streams.prefix(3))
            if let wanted = options.fixture?.readStream {
                guard let stream = streams.first(where: { $0.name == wanted }) else {
                    invalid.append("the fixture's read.stream \"\(wanted)\" is not in the catalogue (streams: \(streams.map(\.name).joined(separator: ", ")))")
                    return Finding(status: .failed, summary: "the stream to read is not in the catalogue", details: invalid)
                }
                chosen = [stream]
            }
            for stream in chosen {
                var state: [UInt8] = []
                var seen = Set<String>()
                for page in 0..<50 {
                    var records: [(String, [UInt8])] = []
                    var newState: [UInt8]?
                    let outcome = note("read", plugin.read(stream: stream.name, state: state, maxRecords: 10, deadline: deadline, labels: [:]) { item in
                        if item.kind == .record { records.append((item.keyString, item.dataBytes)) }
                        if item.kind == .state { newState = item.dataBytes }
                        return .ok
                    })
                    guard outcome.isOK else {
                        invalid.append("\(stream.name) page \(page + 1): read returned \(outcome.summary)")
                        break
                    }
                    if !state.isEmpty { resumed += 1 }
                    total += records.count
                    var repeats: [String] = []
                    for (key, data) in records {
                        guard let record = try? JSON.parse(data) else {
                            invalid.append("\(stream.name): a record is not JSON: \(String(decoding: data.prefix(80), as: UTF8.self))")
                            continue
                        }
                        let entity = key.isEmpty ? stream.entity : key
                        let stamped = record.setting("tenant", .string("conformance")).setting("source", .string("under-test"))
                        for problem in CanonicalValidator.validate(record: stamped, entity: entity).prefix(3) {
                            invalid.append("\(stream.name) \(record["external_id"]?.stringValue ?? "?"): \(problem.fieldPath): \(problem.summary)")
                        }
                        let identity = "\(record["external_id"]?.stringValue ?? "")@\(record["updated_at"]?.stringValue ?? "")"
                        if !seen.insert(identity).inserted { repeats.append(record["external_id"]?.stringValue ?? "?") }
                    }
                    if !repeats.isEmpty {
                        reemitted.append("\(stream.name): reading from state \(String(decoding: state, as: UTF8.self)) re-emitted \(repeats.count) record(s) it covers: \(repeats.prefix(5).joined(separator: ", "))")
                        break
                    }
                    if !records.isEmpty && newState == nil { stateProblems.append("\(stream.name): \(records.count) records but no SB_EMIT_STATE") }
                    if records.isEmpty { break }
                    if let newState { state = newState }
                    if invalid.count > 20 { break }
                }
            }
            // A check that saw no record checked nothing: a reading connector must show it reads.
            let needed = options.fixture?.minRecords ?? 1
            if invalid.isEmpty && total < needed {
                let why = options.fixture == nil
                    ? "0 records read: every stream's first page was empty. A connector that reads through egress needs a fixture (--fixture, docs/CONFORMANCE.md) that holds records"
                    : "\(total) record(s) read, the fixture asks for at least \(needed): the plugin did not read what the fixture serves"
                return Finding(status: .failed, summary: why, details: unmatchedRequests())
            }
            return invalid.isEmpty ? Finding(status: .passed, summary: "\(total) records, all valid canonical records")
                : Finding(status: .failed, summary: "\(invalid.count) problem(s) in records read", details: invalid + unmatchedRequests() + fixtureHint())
        }
        check("read.resumes_from_state") {
            if total == 0 {
                return Finding(status: .skipped, summary: invalid.isEmpty ? "not exercised: no records were read, so no saved state was resumed from"
                                                                          : "not exercised: the reads did not succeed (see read.records_valid)")
            }
            var problems = reemitted + stateProblems
            if problems.isEmpty && resumed == 0 { problems.append("no read started from a saved state, so resuming was never exercised") }
            return problems.isEmpty ? Finding(status: .passed, summary: "each read from a saved state emitted only new records")
                : Finding(status: .failed, summary: "the cursor does not cover what was emitted", details: problems)
        }
    }

    func checkErrors() {
        check("errors.classified") {
            let silent = outcomes.filter { !$0.outcome.isOK && $0.outcome.status != .cancelled && $0.outcome.diagnostics.isEmpty }
            return silent.isEmpty ? Finding(status: .passed, summary: "every failure carried a status and a diagnostic (\(outcomes.count) calls)")
                : Finding(status: .failed, summary: "\(silent.count) failure(s) without a diagnostic saying why",
                          details: silent.prefix(10).map { "\($0.op) returned \($0.outcome.status) with no diagnostic" })
        }
    }

    func checkFuzz(_ plugin: SandboxedPlugin) {
        check("fuzz.boundary", budget: options.fuzzBudgetSeconds) {
            var mutator = InputMutator(seed: options.seed)
            let entity = writes.first ?? streams.first?.entity ?? "Account"
            let record = CanonicalSamples.record(entity: entity)?.bytes ?? Array("{}".utf8)
            let state = Array("{\"next\":3}".utf8)
            var targets: [String] = ["validate_config"]
            if opened && plugin.info.has(.write) { targets.append("write") }
            if opened && plugin.info.has(.read), !streams.isEmpty { targets.append("read") }
            if opened && plugin.info.has(.webhook) { targets.append("handle_webhook") }
            if opened && plugin.info.descriptor.kind == .workflow { targets.append("on_event") }
            var crashes: [String] = []
            var calls = 0
            let started = Clock.monotonicNanoseconds()
            for i in 0..<options.fuzzIterations {
                let target = targets[i % targets.count]
                let before = workerFailures
                let input: [UInt8]
                switch target {
                case "write":
                    input = mutator.mutate(record)
                    _ = plugin.write(entity: entity, idempotencyKey: "fuzz-\(i)", externalID: "", record: input, deadline: deadline, labels: [:], onResult: nil)
                case "read":
                    input = mutator.mutate(state)
                    _ = plugin.read(stream: streams[0].name, state: input, maxRecords: 5, deadline: deadline, labels: [:]) { _ in .ok }
                case "handle_webhook":
                    input = mutator.mutate(record)
                    _ = plugin.handleWebhook(method: "POST", url: "/hook", headers: [("Content-Type", "application/json")], body: input,
                                             deadline: deadline) { _ in .ok }
                case "on_event":
                    input = mutator.mutate(record)
                    _ = input.withUnsafeBytes { plugin.onEvent(type: "opportunity.won", event: $0, deadline: deadline, labels: [:], sink: nil) }
                default:
                    input = mutator.mutate(config)
                    _ = plugin.validate(config: input)
                }
                calls += 1
                if workerFailures > before {
                    var line = "\(target) input #\(i) (\(input.count) bytes): \(plugin.status.lastFailure ?? "worker failed")"
                    if let dir = options.artifactsDir {
                        let file = "\(dir)/crash-\(target)-\(i).bin"
                        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                        if FileManager.default.createFile(atPath: file, contents: Data(input)) { line += " — saved to \(file)" }
                    }
                    crashes.append(line)
                    if crashes.count >= 3 { break }
                }
                if Double(Clock.monotonicNanoseconds() - started) / 1e9 > options.fuzzBudgetSeconds { break }
            }
            return crashes.isEmpty
                ? Finding(status: .passed, summary: "\(calls) mutated inputs (\(targets.joined(separator: ", "))), no crash or hang (seed \(options.seed))")
                : Finding(status: .failed, summary: "mutated input broke the plugin (seed \(options.seed); stopped after \(calls) calls)", details: crashes)
        }
    }

    func checkLeaks() {
        check("leaks.valgrind", budget: max(options.stepBudgetSeconds, 300)) {
            LeakCheck.run(path: options.path, config: config, workerExecutable: options.sandbox.resolvedExecutable)
        }
    }
}
