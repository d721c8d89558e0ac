import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import Testing

/// The csv-drop connector (the legacy batch path): files are imported once,
/// moved to done/ or rejected/ with a reason, and never lost, also across kill -9.
@Suite(.serialized) struct CSVDropTests {
    static let columns = #"{ external_id: "Customer No", name: "Name", email: "Email", billing_address.city: "City" }"#

    func customers(_ range: ClosedRange<Int>) -> String {
        "Customer No,Name,Email,City\n" + range.map { "C-\($0),\"Customer \($0), Ltd\",c\($0)@example.com,Berlin" }.joined(separator: "\n") + "\n"
    }

    func config(dir: String, inbox: String, sink: String, pollBatch: Int = 50) -> String {
        """
        version: 1
        store: sqlite:\(dir)/store.db
        plugins: \(TestEnv.productsDir)
        worker: { batch: 50, idle: 2ms }
        tenants:
          - id: acme
            connections:
              - id: drop
                plugin: csv-drop
                config: { folder: \(inbox), entity: Account, columns: \(Self.columns) }
                poll: { every: 20ms, streams: [files], batch: \(pollBatch) }
                files: { write: [\(inbox)] }
              - id: sink
                plugin: testkit
                config: { role: sink, path: \(sink) }
                files: { write: [\(URL(fileURLWithPath: sink).deletingLastPathComponent().path)] }
            workflows:
              - id: copy
                trigger: { event: record.Account, source: drop }
                steps:
                  - write: { connection: sink, entity: Account }
        """
    }

    func sinkIDs(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            return parts.count == 3 ? String(parts[2]) : nil
        }
    }

    func files(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    @Test func theConnectorPassesTheConformanceSuite() throws {
        let inbox = TestEnv.tempDir("sbcsv-conf")
        try customers(1...25).write(toFile: inbox + "/customers.csv", atomically: true, encoding: .utf8)
        let configFile = inbox + "/../\(UUID().uuidString).json"
        try #"{"folder":"\#(inbox)","entity":"Account","columns":{"external_id":"Customer No","name":"Name","email":"Email"}}"#
            .write(toFile: configFile, atomically: true, encoding: .utf8)
        let run = try TestEnv.run(TestEnv.switchboard, ["plugin", "test", TestEnv.product("libsbplugin-csv-drop.so"), "--config", configFile, "--fuzz", "1000",
                                                         "--write", inbox])
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.stdout.contains("25 records, all valid"), "\(run.stdout)")
    }

    @Test func filesAreImportedOnceAndEndInDoneOrRejected() throws {
        let dir = TestEnv.tempDir("sbcsv")
        let inbox = dir + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try (customers(1...2) + "C-3,,c3@example.com,Berlin\n").write(toFile: inbox + "/a-good.csv", atomically: true, encoding: .utf8)
        try "Id,Company\n1,Acme\n".write(toFile: inbox + "/b-wrong-header.csv", atomically: true, encoding: .utf8)
        let sink = dir + "/sink.log"
        try config(dir: dir, inbox: inbox, sink: sink).write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let first = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: logger)
        try first.drain()
        #expect(Set(sinkIDs(sink)) == ["C-1", "C-2"])
        #expect(try first.store.stats(tenant: "acme").exceptionsByReason["schema_invalid"]?.count == 1, "the row without a name is kept as an exception")
        #expect(files(inbox + "/done") == ["a-good.csv"])
        #expect(files(inbox + "/rejected") == ["b-wrong-header.csv", "b-wrong-header.csv.reason.txt"])
        let reason = try String(contentsOfFile: inbox + "/rejected/b-wrong-header.csv.reason.txt", encoding: .utf8)
        #expect(reason.contains("lacks the mapped column(s): City, Email, Customer No, Name"), "\(reason)")
        #expect(!files(inbox).contains { $0.hasSuffix(".csv") })

        // The same export dropped again: read again, imported nothing twice.
        try (customers(1...2) + "C-3,,c3@example.com,Berlin\n").write(toFile: inbox + "/a-good.csv", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: try FileManager.default.attributesOfItem(atPath: inbox + "/done/a-good.csv")[.modificationDate]!],
                                              ofItemAtPath: inbox + "/a-good.csv")
        let second = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: logger)
        try second.drain()
        #expect(sinkIDs(sink).count == 2)
        #expect(files(inbox + "/done").count == 2, "both copies kept in done/")
    }

    /// kill -9 mid-file, again and again: every row reaches the idempotent sink exactly once and the file ends in done/.
    @Test func aCrashMidFileLosesAndDoublesNothing() throws {
        let dir = TestEnv.tempDir("sbcsv-crash")
        let inbox = dir + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let rows = 3000
        try customers(1...rows).write(toFile: inbox + "/big.csv", atomically: true, encoding: .utf8)
        let sink = dir + "/sink.log"
        try config(dir: dir, inbox: inbox, sink: sink, pollBatch: 100).write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        func launch(_ extra: [String] = []) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            p.arguments = ["run", "--config", dir + "/c.yaml"] + extra
            p.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_LOG_LEVEL": "critical"]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        var midFile = 0
        for _ in 0..<6 {
            let p = try launch()
            usleep(UInt32.random(in: 300_000...900_000))
            let before = sinkIDs(sink).count
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if before < rows { midFile += 1 }
        }
        let last = try launch(["--exit-when-idle"])
        let deadline = Date().addingTimeInterval(120)
        while last.isRunning && Date() < deadline { usleep(50_000) }
        if last.isRunning { kill(last.processIdentifier, SIGKILL) }
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        let ids = sinkIDs(sink)
        #expect(ids.count == rows, "\(ids.count) sink lines for \(rows) rows")
        #expect(Set(ids).count == rows, "no row twice")
        #expect(files(inbox + "/done") == ["big.csv"])
        #expect(!files(inbox).contains { $0.hasSuffix(".csv") })
        #expect(midFile >= 1, "at least one kill landed mid-file")
    }
}
