import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import Synchronization
import Testing

/// The boundary in use: real plugin libraries built by the package, called
/// through the host, with every host service the v1 table offers.
@Suite struct PluginOperationTests {
    static func examples() throws -> [PluginLibrary] {
        try [
            PluginLibrary.load(path: TestEnv.product("libsbplugin-example-c.so")),
            PluginLibrary.load(path: TestEnv.product("libsbplugin-example-swift.so")),
        ]
    }

    static func config(for plugin: PluginLibrary, count: Int) -> [UInt8] {
        plugin.descriptor.id == "example-c" ? Array(#"{"accounts": \#(count)}"#.utf8)
            : Array(#"{"contacts": \#(count), "domain": "example.com", "webhook_token": "tok-12345"}"#.utf8)
    }

    @Test func specIsAJSONSchema() throws {
        for plugin in try Self.examples() {
            let spec = try plugin.configSpec()
            let object = try #require(try JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [String: Any])
            #expect(object["type"] as? String == "object")
            #expect(object["properties"] is [String: Any])
        }
    }

    @Test func validateNamesTheFieldAtFault() throws {
        let (c, swift) = try (Self.examples()[0], Self.examples()[1])
        let badC = c.validate(config: Array(#"{"accounts": -1}"#.utf8))
        #expect(badC.status == .config)
        #expect(badC.diagnostics.map(\.fieldPath) == ["accounts"])
        let missing = c.validate(config: Array("{}".utf8))
        #expect(missing.diagnostics.first?.summary == "missing required field")
        let badSwift = swift.validate(config: Array(#"{"contacts": "x", "extra": 1}"#.utf8))
        #expect(badSwift.status == .config)
        #expect(Set(badSwift.diagnostics.map(\.fieldPath)).isSuperset(of: ["contacts", "domain", "extra"]))
        // open refuses a bad config before the plugin sees it.
        #expect(throws: PluginCallError.self) { try c.open(config: Array("{}".utf8)) }
    }

    @Test func readResumesFromSavedStateWithoutReemitting() throws {
        for plugin in try Self.examples() {
            let instance = try plugin.open(config: Self.config(for: plugin, count: 7))
            let stream = plugin.descriptor.id == "example-c" ? "accounts" : "contacts"
            var ids: [String] = []
            var state: [UInt8] = []
            func readBatch(_ max: Int) -> CallOutcome {
                instance.read(stream: stream, state: state, maxRecords: max) { item in
                    switch item.kind {
                    case .record:
                        let object = try? JSONSerialization.jsonObject(with: Data(item.dataBytes)) as? [String: Any]
                        ids.append(object?["external_id"] as? String ?? "?")
                    case .state: state = item.dataBytes
                    default: break
                    }
                    return .ok
                }
            }
            #expect(readBatch(3).isOK)
            #expect(ids.count == 3)
            #expect(readBatch(0).isOK)
            #expect(ids.count == 7, "\(plugin.descriptor.id): \(ids)")
            #expect(Set(ids).count == 7, "a resumed read re-emitted records: \(ids)")
            #expect(readBatch(0).isOK)
            #expect(ids.count == 7)
            let unknown = instance.read(stream: "nope", state: []) { _ in .ok }
            #expect(unknown.status == .config)
            #expect(unknown.diagnostics.first?.fieldPath == "stream")
        }
    }

    @Test func writeIsIdempotentPerKeyAndInstancesShareNothing() throws {
        for plugin in try Self.examples() {
            let one = try plugin.open(config: Self.config(for: plugin, count: 1))
            let two = try plugin.open(config: Self.config(for: plugin, count: 1))
            let record = Array(#"{"name":"x"}"#.utf8)
            let (a, idA) = one.write(entity: "Account", idempotencyKey: "k1", record: record)
            let (b, idB) = one.write(entity: "Account", idempotencyKey: "k1", record: record)
            let (c, idC) = one.write(entity: "Account", idempotencyKey: "k2", record: record)
            #expect(a.isOK && b.isOK && c.isOK)
            #expect(idA != nil && idA == idB)
            #expect(idC != idA)
            // The second instance has its own ledger: the same key is new there.
            let (_, idOther) = two.write(entity: "Account", idempotencyKey: "k2", record: record)
            #expect(idOther == idA, "fresh instance should start from the same first id, got \(idOther ?? "-")")
            let (missing, _) = one.write(entity: "Account", idempotencyKey: "", record: record)
            #expect(missing.status == .fatal)
            #expect(missing.diagnostics.first?.fieldPath == "idempotency_key")
        }
    }

    @Test func webhookBecomesAnEventAndABadTokenIsAUTH() throws {
        let swift = try Self.examples()[1]
        let instance = try swift.open(config: Self.config(for: swift, count: 0))
        var events: [String] = []
        let good = instance.handleWebhook(method: "POST", url: "/hooks/t/c", headers: [("X-Example-Token", "tok-12345")],
                                          body: Array(#"{"id":1}"#.utf8)) { item in
            events.append(item.keyString)
            return .ok
        }
        #expect(good.isOK)
        #expect(events == ["contact.updated"])
        let bad = instance.handleWebhook(method: "POST", url: "/hooks/t/c", headers: [("X-Example-Token", "wrong")],
                                         body: Array("{}".utf8)) { _ in .ok }
        #expect(bad.status == .auth)
    }

    /// Different instances run concurrently; each keeps its own state.
    @Test func instancesRunConcurrently() async throws {
        for plugin in try Self.examples() {
            let instances = try (0..<4).map { _ in try plugin.open(config: Self.config(for: plugin, count: 500)) }
            let stream = plugin.descriptor.id == "example-c" ? "accounts" : "contacts"
            let counts = await withTaskGroup(of: Int.self) { group in
                for instance in instances {
                    group.addTask {
                        var records = 0
                        _ = instance.read(stream: stream, state: []) { item in
                            if item.kind == .record { records += 1 }
                            return .ok
                        }
                        return records
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(counts == [500, 500, 500, 500])
        }
    }

    @Test func sinkCanCancelARead() throws {
        let c = try Self.examples()[0]
        let instance = try c.open(config: Self.config(for: c, count: 1000))
        var seen = 0
        let outcome = instance.read(stream: "accounts", state: []) { _ in
            seen += 1
            return seen == 10 ? .cancelled : .ok
        }
        #expect(outcome.status == .cancelled)
        #expect(seen == 10)
    }
}

/// Host services and error paths, driven through the configurable fixture.
@Suite struct HostServiceTests {
    static let plugin: PluginLibrary = {
        try! PluginLibrary.load(path: try! TestEnv.fixture("services", ["FIX_ID='\"services\"'"]))
    }()

    func check(_ mode: String, services: InstanceServices = InstanceServices(), deadline: Int64 = 0) throws -> CallOutcome {
        let instance = try Self.plugin.open(config: Array(mode.utf8), services: services)
        return instance.checkConnection(deadline: deadline)
    }

    @Test func unknownStatusCodeCountsAsFatal() throws {
        #expect(try check("status42").status == .fatal)
    }

    @Test func emitOfAKindTheOperationDoesNotTakeIsRefused() throws {
        let outcome = try check("wrong-emit")
        #expect(outcome.status == .fatal)
        #expect(outcome.diagnostics.first?.summary.contains("emit kind 3 is not accepted by check_connection") == true)
    }

    @Test func longerStructWithNonZeroTailIsRefused() throws {
        let outcome = try check("emit-tail")
        #expect(outcome.status == .fatal)
        #expect(outcome.diagnostics.first?.summary.contains("unknown fields") == true)
    }

    @Test func stateRoundTripsThroughHostBuffers() throws {
        let store = MemoryStateStore()
        #expect(try check("state", services: InstanceServices(state: store)).isOK)
        #expect(try store.value(forKey: "k") == Array("value-1".utf8))
        // A buffer the plugin never releases is freed when the call ends (valgrind test covers the leak side).
        #expect(try check("unreleased", services: InstanceServices(state: store)).isOK)
    }

    struct Secrets: SecretResolver {
        var values: [String: String]
        func secret(named name: String) throws -> [UInt8]? { values[name].map { Array($0.utf8) } }
    }

    @Test func rawSecretsNeedTheOperatorsConsent() throws {
        let secrets = Secrets(values: ["api_key": "s3cr3t"])
        let denied = try check("secret", services: InstanceServices(secrets: secrets))
        #expect(denied.status == .auth)
        #expect(denied.diagnostics.first?.summary.contains("may not read raw secrets") == true)
        #expect(try check("secret", services: InstanceServices(secrets: secrets, rawSecretsAllowed: true)).isOK)
        let missing = try check("secret", services: InstanceServices(secrets: Secrets(values: [:]), rawSecretsAllowed: true))
        #expect(missing.status == .config)
        #expect(missing.diagnostics.first?.fieldPath == "secrets.api_key")
        // The secret's value never appears in a diagnostic.
        #expect(!denied.diagnostics.description.contains("s3cr3t"))
    }

    @Test func egressWithoutAClientIsAConfigError() throws {
        let outcome = try check("egress")
        #expect(outcome.status == .config)
        #expect(outcome.diagnostics.first?.fieldPath == "egress")
    }

    @Test func deadlineCancelsALongCall() throws {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        let outcome = try check("wait-cancel", deadline: now + 50_000_000)
        #expect(outcome.status == .cancelled)
    }

    @Test func cancelFromAnotherThreadStopsTheCall() throws {
        let instance = try Self.plugin.open(config: Array("wait-cancel".utf8))
        // Threads, not tasks: the call spins until cancelled, and a spinning task would hold one of the few
        // threads of the cooperative pool the canceller needs. A cancel that lands before the call began is
        // not that call's (begin clears it), so keep asking until the call has stopped.
        let outcome = Mutex<CallOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            outcome.withLock { $0 = instance.checkConnection() }
            done.signal()
        }.start()
        while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut { instance.cancel() }
        #expect(outcome.withLock { $0?.status } == .cancelled)
    }

    final class Recorder: PluginMetricsSink {
        let seen = Mutex<[String]>([])
        func record(kind: PluginMetricKind, name: String, value: Double, labels: [String: String]) {
            seen.withLock { $0.append("\(name)=\(value) plugin=\(labels["plugin"] ?? "")") }
        }
    }

    @Test func logsAndMetricsArriveLabelledWithThePlugin() throws {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in CapturingHandler(lines: lines) }
        let recorder = Recorder()
        let instance = try Self.plugin.open(config: Array("log".utf8),
                                            services: InstanceServices(tenant: "acme", connection: "crm", logger: logger, metrics: recorder))
        let outcome = instance.checkConnection(labels: ["workflow": "o2c", "trace": "work-42"])
        #expect(outcome.isOK)
        let line = try #require(lines.all.first)
        #expect(line.contains("fixture says hello"))
        #expect(line.contains("plugin=services") && line.contains("tenant=acme") && line.contains("connection=crm"))
        #expect(line.contains("workflow=o2c") && line.contains("trace=work-42"), "\(line)")
        #expect(recorder.seen.withLock { $0 } == ["fixture_calls=1.0 plugin=services"])
    }

    @Test func diagnosticsTravelWithTheStatus() throws {
        let outcome = try check("diag-only")
        #expect(outcome.status == .auth)
        #expect(outcome.summary == "AUTH: mode: explained failure")
    }

    @Test func closedInstanceRefusesCalls() throws {
        let instance = try Self.plugin.open(config: Array("ok".utf8))
        instance.close()
        instance.close()
        #expect(instance.checkConnection().status == .fatal)
    }
}

final class Lines: Sendable {
    private let store = Mutex<[String]>([])
    func append(_ line: String) { store.withLock { $0.append(line) } }
    var all: [String] { store.withLock { $0 } }
}

struct CapturingHandler: LogHandler {
    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("\(event.level) \(event.message) \(meta)")
    }
}
