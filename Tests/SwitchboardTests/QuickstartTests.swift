import Foundation
import SwitchboardCore
import Testing

/// README command 1's job: the opportunity-to-cash demo runs to the end and
/// summarises what happened, including the exceptions and the money they block.
@Suite struct QuickstartTests {
    @Test func quickstartRunsTheFlowAndSummarises() throws {
        let dir = TestEnv.tempDir("sbquick")
        let result = try TestEnv.run(TestEnv.switchboard, ["quickstart", "--plugins", TestEnv.productsDir, "--dir", dir + "/demo"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("Summary ("))
        #expect(out.contains("still queued          0"), "\(out)")
        #expect(out.contains("exceptions            6"), "\(out)")
        #expect(out.contains("schema_invalid     3  blocking"), "\(out)")
        #expect(out.contains("fatal              3  blocking"), "\(out)")
        #expect(out.contains("latency p50 / p95"))
        // The flow went all the way: invoices and payments came back to the CRM.
        let list = try TestEnv.run(TestEnv.switchboard, ["exceptions", "list", "--config", dir + "/demo/switchboard.yaml", "--json"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("\"impact\""))
        let audit = try TestEnv.run(TestEnv.switchboard, ["audit", "verify", "--config", dir + "/demo/switchboard.yaml"])
        #expect(audit.status == 0 && audit.stdout.contains("audit trail intact"))
    }

    @Test func runRejectsABadConfigWithExit4AndTheLine() throws {
        let dir = TestEnv.tempDir("sbbad")
        try "version: 1\ntenants:\n  - id: acme\n    connections:\n      - id: crm\n        plugin: nosuchplugin\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let result = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/c.yaml"],
                                     environment: ["SWITCHBOARD_PLUGIN_DIR": TestEnv.productsDir])
        #expect(result.status == 4)
        #expect(result.stderr.contains("\(dir)/c.yaml:5:9: unknown plugin id \"nosuchplugin\""), "\(result.stderr)")
        try "tenants: [ {id: acme\n".write(toFile: dir + "/broken.yaml", atomically: true, encoding: .utf8)
        let broken = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/broken.yaml"])
        #expect(broken.status == 4)
        #expect(broken.stderr.contains("broken.yaml:2:"), "\(broken.stderr)")
    }

    /// SIGTERM drains: the daemon stops cleanly with exit 0 and nothing left running.
    @Test func sigtermStopsCleanly() throws {
        let dir = TestEnv.tempDir("sbterm")
        try """
            version: 1
            plugins: \(TestEnv.productsDir)
            tenants:
              - id: acme
                connections:
                  - { id: gen, plugin: testkit, config: { role: source, records: 100000 }, poll: { every: 5ms, streams: [records], batch: 50 } }
                  - { id: sink, plugin: testkit, config: { role: sink } }
                workflows:
                  - { id: copy, trigger: { event: record.Account }, steps: [ { write: { connection: sink, entity: Account } } ] }
            """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        p.arguments = ["run", "--config", dir + "/c.yaml"]
        FileManager.default.createFile(atPath: dir + "/run.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/run.log"))
        p.standardError = log
        p.standardOutput = log
        try p.run()
        usleep(800_000)
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        #expect(!p.isRunning, "SIGTERM did not stop the daemon")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
        // Leases live in the process (embedded store): what matters is that every claimed item was committed before exit.
        let output = try String(contentsOfFile: dir + "/run.log", encoding: .utf8)
        let stopped = try #require(output.split(separator: "\n").compactMap { try? JSON.parse(Array($0.utf8)) }
            .last { $0["msg"]?.stringValue == "switchboard stopped" }, "no stop line in: \(output.suffix(800))")
        #expect(stopped["uncommitted"]?.stringValue == "0", "a drained stop commits every claimed item: \(stopped.text)")
        #expect(Int(stopped["processed"]?.stringValue ?? "") ?? 0 > 0, "the daemon processed nothing before SIGTERM: \(stopped.text)")
    }
}
