import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import Testing

/// Bad configuration gets a clear error naming file:line and what is wrong.
@Suite struct ConfigTests {
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "cfg.yaml", stores: TestEnv.stores)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let valid = """
        version: 1
        tenants:
          - id: acme
            connections:
              - id: crm
                plugin: testkit
                config: { role: source }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: crm }
                steps:
                  - map: { name: upper($.name) }
                  - write: { connection: crm, entity: Account }
        """

    @Test func validConfigLoads() throws {
        let config = try ConfigLoader.parse(Self.valid, file: "/etc/sb/cfg.yaml")
        #expect(config.store == "sqlite:/etc/sb/switchboard.db")
        #expect(config.tenants.first?.workflows.first?.steps.count == 2)
    }

    @Test func aPostgresStoreURLIsCheckedAtItsLineAndMayNotHoldAPassword() throws {
        let shared = Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nstore: postgres://switchboard@db.internal:5432/switchboard\n")
        #expect(try ConfigLoader.parse(shared, file: "/etc/sb/cfg.yaml", stores: TestEnv.stores).store == "postgres://switchboard@db.internal:5432/switchboard")
        let leaky = problems(Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nstore: postgres://sb:canary-pg-pw@db/sb\n"))
        #expect(leaky.count == 1 && leaky[0].hasPrefix("cfg.yaml:2:8: store: the store URL holds a password"), "\(leaky)")
        #expect(!leaky[0].contains("canary-pg-pw"))
        let unknown = problems(Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nstore: mysql://sb@db/sb\n"))
        #expect(unknown.first?.contains("use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE") == true, "\(unknown)")
        let tls = problems(Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nstore: postgres://sb@db/sb?sslmode=verify\n"))
        #expect(tls.count == 1 && tls[0].hasPrefix("cfg.yaml:2:8: store: ") && tls[0].contains("sslmode \"verify\" is not one of"), "\(tls)")
        // A process whose composition root knows only the embedded store refuses the URL, naming what it opens.
        do {
            _ = try ConfigLoader.parse(shared, file: "cfg.yaml")
            Issue.record("an embedded-only loader took a PostgreSQL URL")
        } catch {
            #expect(error.problems.map(\.description) == ["cfg.yaml:2:8: store \"postgres:...\" is not supported (use sqlite:PATH)"], "\(error.problems)")
        }
    }

    /// `retention:` sets every tenant's default and the audit trail's; a tenant overrides its own keys; the
    /// event rows may not go before their transactions.
    @Test func retentionDefaultsOverridesAndItsOneRule() throws {
        #expect(try ConfigLoader.parse(Self.valid, file: "cfg.yaml").tenants[0].retention == .standard)
        let yaml = Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nretention: { done_transactions: 7d, audit: 365d, every: 1m }\n")
            .replacingOccurrences(of: "  - id: acme\n", with: "  - id: acme\n    retention: { event_payloads: forever }\n")
        let config = try ConfigLoader.parse(yaml, file: "cfg.yaml")
        let day = RetentionPolicy.day
        #expect(config.tenants[0].retention == RetentionPolicy(doneTransactions: 7 * day, eventPayloads: nil, stepTimings: 14 * day,
                                                              dedupeWindow: 400 * day))
        #expect(config.retention.auditMillis == 365 * day && config.retention.everyMillis == 60_000)
        let inverted = problems(Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\nretention:\n  done_transactions: forever\n"))
        #expect(inverted.count == 1 && inverted[0].hasPrefix("cfg.yaml:3:3: retention.dedupe_window must be at least done_transactions"),
                "\(inverted)")
        let unknown = problems(Self.valid.replacingOccurrences(of: "  - id: acme\n", with: "  - id: acme\n    retention: { audit: 1d }\n"))
        #expect(unknown.first?.hasPrefix("cfg.yaml:4:18: unknown key \"audit\" in tenant acme retention") == true, "\(unknown)")
    }

    @Test func malformedYAMLNamesTheLine() {
        let found = problems("version: 1\ntenants:\n  - id: acme\n    connections: [\n")
        #expect(found.count == 1)
        #expect(found[0].hasPrefix("cfg.yaml:5:"), "\(found)")
        #expect(found[0].contains("malformed YAML"))
    }

    @Test(arguments: [
        ("    connections:\n      - id: crm\n        plugin: testkit\n        colour: blue\n", "cfg.yaml:7:9: unknown key \"colour\" in a connection"),
        ("    connections:\n      - id: crm\n        plugin: Test Kit\n", "cfg.yaml:6:17: plugin \"Test Kit\" must match"),
        ("    connections:\n      - id: workflow\n        plugin: testkit\n",
         "cfg.yaml:5:13: connection id \"workflow\" is reserved: events emitted by workflows have the source \"workflow:WORKFLOW\""),
        ("    connections:\n      - id: crm\n        plugin: testkit\n        retry: { base_delay: soon }\n",
         "cfg.yaml:7:30: retry.base_delay \"soon\" is not a duration"),
        ("    connections:\n      - id: crm\n        plugin: testkit\n        secrets: { token: vault-token }\n",
         "cfg.yaml:7:27: secret reference \"vault-token\" must be vault:NAME or env:VARIABLE"),
        ("    workflows:\n      - id: w\n        trigger: { event: deal.exploded }\n        steps: [ { map: { a: $.b } } ]\n",
         "cfg.yaml:6:27: unknown trigger event \"deal.exploded\""),
        ("    workflows:\n      - id: w\n        trigger: { event: opportunity.won }\n        steps:\n          - map: { a: \"frob($.b)\" }\n",
         "cfg.yaml:8:23: map a: unknown function frob()"),
        ("    workflows:\n      - id: w\n        trigger: { event: opportunity.won }\n        steps:\n          - write: { connection: nowhere, entity: Invoice }\n",
         "cfg.yaml:8:34: unknown connection \"nowhere\""),
        ("    workflows:\n      - id: w\n        trigger: { event: opportunity.won }\n        steps:\n          - write: { connection: nowhere, entity: Invoce }\n",
         "unknown canonical entity \"Invoce\""),
        ("    master_data:\n      - entity: Invoice\n        connections: [a, b]\n", "Invoice is not master data"),
    ])
    func eachProblemIsLocated(body: String, expected: String) {
        let found = problems("version: 1\ntenants:\n  - id: acme\n" + body)
        #expect(found.contains { $0.contains(expected) }, "got: \(found)")
    }

    @Test func theSchedulerStallBoundIsAboveThePollDeadline() throws {
        func with(_ worker: String) -> String { Self.valid.replacingOccurrences(of: "version: 1\n", with: "version: 1\n" + worker) }
        let found = problems(with("worker: { deadline: 10s, scheduler_stall: 5s }\n"))
        #expect(found.contains { $0.hasPrefix("cfg.yaml:2:") && $0.contains("worker.scheduler_stall must be longer than worker.deadline") },
                "\(found)")
        #expect(try ConfigLoader.parse(with("worker: { deadline: 45s }\n"), file: "cfg.yaml").worker.effectiveSchedulerStallMillis == 90_000,
                "twice the deadline")
        #expect(try ConfigLoader.parse(with("worker: { deadline: 1s, scheduler_stall: 3s }\n"), file: "cfg.yaml")
            .worker.effectiveSchedulerStallMillis == 3_000)
        #expect(try ConfigLoader.parse(Self.valid, file: "cfg.yaml").worker.effectiveSchedulerStallMillis == 60_000, "at least a minute")
    }

    @Test func duplicateIdsAreReported() {
        let found = problems("""
            tenants:
              - id: acme
                connections:
                  - { id: crm, plugin: testkit }
                  - { id: crm, plugin: testkit }
              - id: acme
            """)
        #expect(found.contains { $0.hasPrefix("cfg.yaml:5:") && $0.contains("duplicate connection id \"crm\"") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("cfg.yaml:6:") && $0.contains("duplicate tenant id \"acme\"") }, "\(found)")
    }

    /// Problems only the plugins can find (unknown plugin id, the plugin's own config check,
    /// a missing secret) are located too, when the runtime opens the configuration: a field the
    /// plugin names at that field's line.
    @Test func runtimeChecksNameTheConnectionLine() throws {
        let dir = TestEnv.tempDir("sbcfg")
        let yaml = """
            version: 1
            store: sqlite:\(dir)/s.db
            plugins: \(TestEnv.productsDir)
            tenants:
              - id: acme
                connections:
                  - id: crm
                    plugin: salesforce
                  - id: gen
                    plugin: testkit
                    config: { role: teapot }
                  - id: sink
                    plugin: testkit
                    config: { role: sink }
                    secrets: { token: env:SB_TEST_SURELY_UNSET_VARIABLE }
            """
        try yaml.write(toFile: dir + "/cfg.yaml", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(file: dir + "/cfg.yaml")
        do {
            _ = try Runtime(config: config, logger: Logger(label: "test"))
            Issue.record("opened")
        } catch let error as ConfigError {
            let text = error.problems.map(\.description)
            #expect(text.contains { $0.hasPrefix(dir + "/cfg.yaml:7:") && $0.contains("unknown plugin id \"salesforce\"") }, "\(text)")
            // The plugin's own check names `role`: the problem is on role's line (11), not the connection's (9).
            #expect(text.contains { $0.hasPrefix(dir + "/cfg.yaml:11:") && $0.contains("config.role: must be source, sink or mirror") }, "\(text)")
            #expect(text.contains { $0.hasPrefix(dir + "/cfg.yaml:15:") && $0.contains("SB_TEST_SURELY_UNSET_VARIABLE, which is not set") }, "\(text)")
        }
    }
}
