import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import Testing

/// The runtime end to end, in process, with real plugins and a real SQLite file.
@Suite(.serialized) struct RuntimeFlowTests {
    struct Setup {
        let dir: String
        let configPath: String
    }

    func setup(_ tenantBody: String) throws -> Setup {
        let dir = TestEnv.tempDir("sbflow")
        let yaml = """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(TestEnv.productsDir)
            worker: { batch: 50, idle: 5ms }
            tenants:
              - id: acme
            \(tenantBody.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
            """
        try yaml.write(toFile: dir + "/switchboard.yaml", atomically: true, encoding: .utf8)
        return Setup(dir: dir, configPath: dir + "/switchboard.yaml")
    }

    func runtime(_ s: Setup) throws -> Runtime {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try Runtime(config: try ConfigLoader.load(file: s.configPath), logger: logger)
    }

    /// Lines of the testkit sink file: [external id of the written record].
    func sinkRecords(_ path: String) throws -> [String] {
        SinkLog.lines(path).map { String($0.split(separator: " ").last ?? "") }
    }

    /// Lines of the testkit sink file, split: idempotency key, the id at the sink, the record's external id.
    func sinkFields(_ path: String) -> [[Substring]] { SinkLog.lines(path).map { $0.split(separator: " ") } }

    /// One version of Account `id` as its source shows it: only the name changes between versions.
    func account(_ name: String, id: String = "A-1") -> (String, [UInt8]) {
        ("Account", Array(#"{"external_id":"\#(id)","updated_at":"2026-11-27T10:00:00Z","name":"\#(name)"}"#.utf8))
    }

    @Test func everyRecordReachesTheSinkOnceAndReplaysChangeNothing() throws {
        let s = try setup("""
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 300 }
                poll: { every: 20ms, streams: [records], batch: 40 }
              - id: sink
                plugin: testkit
                config: { role: sink, path: SINK/sink.log }
                files: { write: [SINK] }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: gen }
                steps:
                  - map: { external_id: $.external_id, updated_at: $.updated_at, name: upper($.name) }
                  - call: bench-echo
                  - write: { connection: sink, entity: Account }
            """.replacingOccurrences(of: "SINK", with: TestEnv.tempDir("sbsink")))
        let sinkPath = try String(contentsOfFile: s.configPath, encoding: .utf8).components(separatedBy: "path: ")[1].components(separatedBy: " ")[0]
        let first = try runtime(s)
        try first.drain()
        let written = try sinkRecords(sinkPath)
        #expect(written.count == 300)
        #expect(Set(written) == Set((1...300).map { "R-\($0)" }))
        let stats = try first.store.stats(tenant: "acme")
        #expect(stats.done == 300 && stats.openExceptions == 0)

        // Restart: the cursor is at the end, nothing is read or written again.
        let second = try runtime(s)
        try second.drain()
        // Replay the same records by hand: the event log drops them as redeliveries.
        let replay = try second.ingest(tenant: "acme", source: "gen", kind: .record, items: (1...5).map {
            ("Account", Array(#"{"external_id":"R-\#($0)","updated_at":"2026-11-27T10:00:00Z","name":"Record \#($0)"}"#.utf8))
        })
        #expect(replay.inserted == 0)
        #expect(try sinkRecords(sinkPath).count == 300)
    }

    /// A record that changes at its source is a new fact: a workflow triggered by record changes writes every
    /// version, and each version updates the record it first created at the target (not a second one).
    /// (A redelivered version repeats its write under the same idempotency key, which the target's contract absorbs;
    /// CrashTests redelivers record changes after kill -9 and checks the sink holds each once.)
    /// The runtime's retention pass applies each tenant's policy and the audit window, and what it leaves
    /// verifies: the totals and the audit chain (from its checkpoint).
    @Test func theRetentionPassPrunesWhatEachPolicyAllows() throws {
        let s = try setup("""
            retention: { done_transactions: 1d, event_payloads: 1d, step_timings: 1d, dedupe_window: 2d }
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 20 }
                poll: { every: 20ms, streams: [records], batch: 40 }
              - id: sink
                plugin: testkit
                config: { role: sink, path: SINK/sink.log }
                files: { write: [SINK] }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: gen }
                steps:
                  - write: { connection: sink, entity: Account }
            """.replacingOccurrences(of: "SINK", with: TestEnv.tempDir("sbsink")))
        let yaml = try String(contentsOfFile: s.configPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: "tenants:\n", with: "retention: { audit: 1d }\ntenants:\n")
            .write(toFile: s.configPath, atomically: true, encoding: .utf8)
        let rt = try runtime(s)
        try rt.drain()
        try rt.store.audit(actor: "alice", action: "token.create", target: "token/1", detail: "", now: Clock.nowMillis())
        #expect(rt.runRetentionPass().total == 0, "nothing is a day old")
        let later = rt.runRetentionPass(now: Clock.nowMillis() + 3 * RetentionPolicy.day)
        #expect(later.doneTransactions == 20, "\(later)")
        #expect(later.stepTimings == 20 && later.eventPayloads == 20 && later.events == 20, "\(later)")
        #expect(later.auditRows >= 1)
        let stats = try rt.store.stats(tenant: "acme")
        #expect(stats.events == 20 && stats.done == 20)
        let audit = try rt.store.verifyAudit()
        #expect(audit.ok, "\(audit.problems)")
    }

    @Test func eachVersionOfAChangedRecordUpdatesTheSameTargetRecord() throws {
        let sinkPath = TestEnv.tempDir("sbsink") + "/sink.log"
        let s = try setup("""
            connections:
              - { id: crm, plugin: testkit, config: { role: sink } }
              - { id: sink, plugin: testkit, config: { role: sink, path: \(sinkPath) }, files: { write: [\(URL(fileURLWithPath: sinkPath).deletingLastPathComponent().path)] } }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: crm }
                steps:
                  - map: { external_id: $.external_id, updated_at: $.updated_at, name: $.name }
                  - write: { connection: sink, entity: Account }
            """)
        func lines() -> [[Substring]] { sinkFields(sinkPath) }
        let rt = try runtime(s)
        #expect(try rt.ingest(tenant: "acme", source: "crm", kind: .record, items: [account("Northwind")]).inserted == 1)
        try rt.drain()
        let first = lines()
        try #require(first.count == 1)
        // The name changed at the source: a new version, written as an update of the sink's record.
        let rt2 = try runtime(s)
        #expect(try rt2.ingest(tenant: "acme", source: "crm", kind: .record, items: [account("Northwind Advisory")]).inserted == 1)
        try rt2.drain()
        let second = lines()
        try #require(second.count == 2, "the second version reached the sink")
        #expect(second[1][0] != second[0][0], "each version has its own idempotency key")
        #expect(second[1][1] == second[0][1], "the second version updated the record the first created")
        #expect(try rt2.store.stats(tenant: "acme").done == 2)
        // Two versions in one delivery: the second waits for the first to commit (one record's events run in order), then updates it.
        let rt3 = try runtime(s)
        #expect(try rt3.ingest(tenant: "acme", source: "crm", kind: .record, items: [account("Contoso", id: "B-1"), account("Contoso Ltd", id: "B-1")]).inserted == 2)
        try rt3.drain()
        let third = lines().filter { $0[2] == "B-1" }
        try #require(third.count == 2)
        #expect(third[1][1] == third[0][1], "both versions of B-1 are one record at the sink")
    }

    /// The same for a master-data entity copied by a workflow to a system outside its group (a data warehouse, say):
    /// the group's sync and the copy both follow every change.
    @Test func aMasterDataRecordCopiedByAWorkflowIsUpdatedToo() throws {
        let sinkPath = TestEnv.tempDir("sbsink") + "/sink.log"
        let s = try setup("""
            connections:
              - { id: crm, plugin: testkit, config: { role: sink } }
              - { id: erp, plugin: testkit, config: { role: sink } }
              - { id: warehouse, plugin: testkit, config: { role: sink, path: \(sinkPath) }, files: { write: [\(URL(fileURLWithPath: sinkPath).deletingLastPathComponent().path)] } }
            master_data:
              - entity: Account
                connections: [crm, erp]
                system_of_record: { owner: crm }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: crm }
                steps:
                  - write: { connection: warehouse, entity: Account }
            """)
        for name in ["Northwind", "Northwind Advisory"] {
            let rt = try runtime(s)
            #expect(try rt.ingest(tenant: "acme", source: "crm", kind: .record, items: [account(name)]).inserted == 1)
            try rt.drain()
        }
        let lines = sinkFields(sinkPath)
        try #require(lines.count == 2, "both versions reached the warehouse: \(lines)")
        #expect(lines[1][1] == lines[0][1], "as one record")
        let store = try SQLiteStore.open(url: try ConfigLoader.load(file: s.configPath).store)
        #expect(try store.stats(tenant: "acme").done == 4, "two versions, each through the sync and the copy")
        #expect(try store.exceptions(ExceptionFilter()).isEmpty)
    }

    @Test func eachKindOfFailureEndsWhereItShould() throws {
        let s = try setup("""
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 4 }
                poll: { every: 20ms, streams: [records] }
              - { id: auth, plugin: testkit, config: { role: sink, misbehave: auth } }
              - { id: fatal, plugin: testkit, config: { role: sink, misbehave: fatal } }
              - { id: mute, plugin: testkit, config: { role: sink, misbehave: no-result } }
              - { id: odd, plugin: testkit, config: { role: sink, misbehave: status77 } }
              - id: busy
                plugin: testkit
                config: { role: sink, misbehave: retry }
                retry: { max_attempts: 3, base_delay: 10ms }
            workflows:
              - { id: to-auth, trigger: { event: record.Account }, steps: [ { write: { connection: auth, entity: Account } } ] }
              - { id: to-fatal, trigger: { event: record.Account }, steps: [ { write: { connection: fatal, entity: Account } } ] }
              - { id: to-mute, trigger: { event: record.Account }, steps: [ { write: { connection: mute, entity: Account } } ] }
              - { id: to-odd, trigger: { event: record.Account }, steps: [ { write: { connection: odd, entity: Account } } ] }
              - { id: to-busy, trigger: { event: record.Account }, steps: [ { write: { connection: busy, entity: Account } } ] }
            """)
        let rt = try runtime(s)
        try rt.drain(timeoutSeconds: 30)
        let store = rt.store
        func open(_ workflow: String) throws -> [ExceptionItem] { try store.exceptions(ExceptionFilter(workflow: workflow)) }
        #expect(try open("to-fatal").map(\.reason) == Array(repeating: "fatal", count: 4))
        #expect(try open("to-fatal").first?.diagnostics.first?.fieldPath == "name")
        #expect(try open("to-mute").first?.diagnostics.first?.summary.contains("without SB_EMIT_WRITE_RESULT") == true)
        #expect(try open("to-odd").map(\.reason) == Array(repeating: "fatal", count: 4), "an unknown status code counts as FATAL")
        let busy = try open("to-busy")
        #expect(busy.map(\.reason) == Array(repeating: "max_attempts", count: 4))
        #expect(busy.allSatisfy { $0.attempts == 3 })
        // Giving up is the runtime's decision too: one audit row per item, naming why and where.
        let givenUp = try store.auditEntries(limit: 1000).filter { $0.action == "work.give_up" }
        #expect(givenUp.count == 4 && givenUp.allSatisfy { $0.actor == "switchboard" && $0.target.hasPrefix("acme/to-busy/work-")
                                                             && $0.detail.hasPrefix("max_attempts at busy: ") }, "\(givenUp)")
        // AUTH parks the items and pauses the connection; nothing is lost or filed as an exception.
        #expect(try open("to-auth").isEmpty)
        #expect(try store.stats(tenant: "acme").parked == 4)
        #expect(try store.pausedConnections().map(\.connection) == ["auth"])
        // The runtime's own decision is in the audit trail, once, as an operator's pause would be.
        let pauses = try store.auditEntries(limit: 1000).filter { $0.action == "connection.pause" && $0.target == "acme/auth" }
        #expect(pauses.count == 1 && pauses.first?.actor == "switchboard" && pauses.first?.detail.hasPrefix("AUTH") == true, "\(pauses)")
        #expect(try store.setConnectionPaused(tenant: "acme", connection: "auth", paused: false, reason: "new token", now: Clock.nowMillis()) == 4)
        #expect(try store.stats(tenant: "acme").pending == 4)
    }

    /// A record whose first version was refused (an exception item blocking its money) and whose next version went
    /// through the same workflow: the old item is resolved as superseded, audited, not left open. Other workflows'
    /// items and the items of records with no newer version stay open.
    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func anItemIsSupersededWhenANewerVersionOfItsRecordGoesThrough(_ backend: StoreBackend) throws {
        let s = try setup("""
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 3, versions: 2 }
                poll: { every: 20ms, streams: [records] }
              - { id: picky, plugin: testkit, config: { role: sink, misbehave: fatal-first } }
              - { id: never, plugin: testkit, config: { role: sink, misbehave: fatal } }
            workflows:
              - { id: to-picky, trigger: { event: record.Account }, steps: [ { write: { connection: picky, entity: Account } } ] }
              - { id: to-never, trigger: { event: record.Account }, steps: [ { write: { connection: never, entity: Account } } ] }
            """)
        let rt = try Runtime(config: try ConfigLoader.load(file: s.configPath), store: try backend.freshStore(),
                             logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try rt.drain(timeoutSeconds: 30)
        let store = rt.store
        let picky = try store.exceptions(ExceptionFilter(status: nil, workflow: "to-picky"))
        #expect(picky.count == 3 && picky.allSatisfy { $0.status == "superseded" && $0.resolvedBy == "switchboard" }, "\(picky.map(\.status))")
        #expect(picky.first?.resolution?.hasPrefix("superseded: a newer event of the same record") == true)
        #expect(try store.exceptions(ExceptionFilter(workflow: "to-never")).count == 6, "every version failed there: nothing supersedes")
        #expect(try store.openExceptionCount(tenant: "acme") == 6)
        let audited = try store.auditEntries(limit: 1000).filter { $0.action == "exception.supersede" }
        #expect(audited.count == 3 && audited.allSatisfy { $0.actor == "switchboard" })
    }

    @Test func ownWritesComingBackAreSuppressedNotPingPonged() throws {
        let s = try setup("""
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 20 }
                poll: { every: 20ms, streams: [records] }
              - id: mirror
                plugin: testkit
                config: { role: mirror }
                poll: { every: 20ms, streams: [records] }
            master_data:
              - entity: Account
                connections: [gen, mirror]
                system_of_record: { owner: gen }
            """)
        let rt = try runtime(s)
        try rt.drain()
        let stats = try rt.store.stats(tenant: "acme")
        // 20 changes from gen went to the mirror; the mirror showing them back is 20 echoes, not 20 new changes.
        #expect(stats.done == 20)
        #expect(stats.events == 20)
        #expect(rt.counters.echoesSuppressed == 20)
        let canonical = try #require(try rt.store.xref(tenant: "acme", entity: "Account", connection: "gen", externalID: "R-7"))
        let ids = try rt.store.xref(tenant: "acme", entity: "Account", canonicalID: canonical.canonicalID)
        #expect(ids.map(\.connection) == ["gen", "mirror"], "the xref shows the record's id in both systems")
    }

    @Test func aPermanentMappingErrorIsFixedInConfigAndReplayed() throws {
        let sink = TestEnv.tempDir("sbsink") + "/sink.log"
        let body = """
            connections:
              - id: gen
                plugin: testkit
                config: { role: source, records: 6 }
                poll: { every: 20ms, streams: [records] }
              - { id: sink, plugin: testkit, config: { role: sink, path: \(sink) }, files: { write: [\(URL(fileURLWithPath: sink).deletingLastPathComponent().path)] } }
            workflows:
              - id: copy
                trigger: { event: record.Account }
                steps:
                  - map: { external_id: $.external_id, updated_at: $.updated_at, name: $.nome }
                  - write: { connection: sink, entity: Account }
            """
        let s = try setup(body)
        try runtime(s).drain()
        let store = try SQLiteStore.open(url: try ConfigLoader.load(file: s.configPath).store)
        let items = try store.exceptions(ExceptionFilter(reason: "mapping_invalid"))
        #expect(items.count == 6)
        #expect(items.first?.diagnostics.first?.fieldPath == "name")
        #expect(try sinkRecords(sink).isEmpty)
        // The operator fixes the mapping and replays every item from the CLI's service.
        try String(contentsOfFile: s.configPath, encoding: .utf8).replacingOccurrences(of: "$.nome", with: "$.name")
            .write(toFile: s.configPath, atomically: true, encoding: .utf8)
        let fixed = try ConfigLoader.load(file: s.configPath)
        let report = try ExceptionService(store: store, config: fixed).retry(ids: items.map(\.id), actor: "ops", reason: "mapping fixed")
        #expect(report.retried.count == 6)
        try runtime(s).drain()
        #expect(Set(try sinkRecords(sink)) == Set((1...6).map { "R-\($0)" }))
        #expect(try store.auditEntries(limit: 10).filter { $0.action == "exception.retry" }.count == 6)
    }

    @Test func schemaInvalidAndDuplicateRecordsFromAPluginAreKept() throws {
        let s = try setup("""
            connections:
              - id: crm
                plugin: sandbox
                config: { role: crm, accounts: 5, opportunities: 30, bad: 3 }
                poll: { every: 20ms, streams: [opportunities] }
            """)
        let rt = try runtime(s)
        try rt.drain()
        let rejected = try rt.store.exceptions(ExceptionFilter(reason: "schema_invalid"))
        #expect(rejected.count == 3)
        #expect(Set(rejected.flatMap { $0.diagnostics.map(\.fieldPath) }).isSubset(of: ["stage", "close_date", "account"]))
        #expect(rejected.allSatisfy { $0.amount != nil && $0.currency != nil }, "the money each bad record blocks is kept")
        // The same bad record delivered again is not filed twice.
        let eventID = try #require(rejected.first?.eventID)
        let event = try #require(try rt.store.event(id: eventID))
        let again = try rt.ingest(tenant: "acme", source: "crm", kind: .event, items: [("opportunity.won", event.payload)])
        #expect(again == IngestOutcome(inserted: 0, duplicates: 1, rejected: 0))
        // Garbage that is not even JSON becomes an exception item too, with the bytes kept.
        let garbage = try rt.ingest(tenant: "acme", source: "crm", kind: .event, items: [("opportunity.won", Array("{not json".utf8))])
        #expect(garbage.rejected == 1)
        #expect(try rt.store.exceptions(ExceptionFilter(reason: "invalid_json")).count == 1)
    }
}
