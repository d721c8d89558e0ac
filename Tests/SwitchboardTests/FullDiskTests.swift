import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardCore
import Testing

/// The embedded store on a small filesystem that fills up under `switchboard run` (issue 26): webhooks get 503
/// with Retry-After instead of a 202 for an event that was not stored, nothing acknowledged is lost, the log says
/// why once, and everything resumes by itself when space returns. A real tmpfs with `size=`, a real host process.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a size-limited tmpfs needs root (CI runs as root)"))
struct FullDiskTests {
    struct Reply {
        var status: Int
        var retryAfter: String?
        var body: String
    }

    static func deliver(_ port: Int, id: String) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/hooks/acme/hooks")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // A few KB each, as real deliveries are: the disk fills with events, not only with the filler.
        let padding = String(repeating: "x", count: 2048)
        request.body = .bytes(ByteBuffer(string: #"{"external_id":"\#(id)","updated_at":"2026-11-27T10:00:00Z","name":"Deal \#(padding)","#
                                            + #""account":"A-1","stage":"won","amount":{"amount":"100.00","currency":"EUR"}}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"), body: String(buffer: body))
    }

    @Test func aFullDiskRefusesWebhooksLosesNothingAcknowledgedAndResumesByItself() async throws {
        let dir = TestEnv.tempDir("sbfull")
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let mounted = try TestEnv.run("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", data])
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        defer { _ = try? TestEnv.run("/bin/umount", ["-l", data]) }
        let sink = dir + "/sink.log", log = dir + "/host.log", config = dir + "/switchboard.yaml"
        let port = TestEnv.freePort()
        try """
            version: 1
            store: sqlite:\(data)/store.db
            plugins: \(TestEnv.productsDir)
            worker: { idle: 5ms, lease: 2s }
            tenants:
              - id: acme
                connections:
                  - { id: hooks, plugin: example-c, config: { accounts: 0 } }
                  - { id: sink, plugin: testkit, config: { role: sink, path: \(sink) }, files: { write: [\(dir)] } }
                workflows:
                  - { id: copy, trigger: { event: opportunity.won, source: hooks }, steps: [ { write: { connection: sink, entity: Opportunity } } ] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        process.arguments = ["run", "--config", config, "--http-port", String(port)]
        process.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_LOG_LEVEL": "info"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        var acknowledged = Set<String>()
        var next = 0
        func send() async throws -> Reply {
            next += 1
            let id = "C-\(next)"
            let reply = try await Self.deliver(port, id: id)
            if reply.status == 202 { acknowledged.insert(id) }
            return reply
        }
        // Up and accepting.
        let up = Date().addingTimeInterval(60)
        while (try? await send())?.status != 202 {
            try #require(Date() < up, "the host did not accept a delivery: \(String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self).suffix(2000))")
            try await Task.sleep(for: .milliseconds(200))
        }
        for _ in 0..<5 { #expect(try await send().status == 202) }

        // Fill the filesystem: the store's next writes find no space.
        let filler = data + "/filler"
        FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
        let chunk = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()

        var refused = 0, consecutive = 0
        while consecutive < 5 && next < 600 {
            let reply = try await send()
            switch reply.status {
            case 202:
                consecutive = 0
            case 503:
                refused += 1
                consecutive += 1
                #expect(reply.retryAfter == "5", "a 503 says when to send again: \(reply)")
                #expect(reply.body.contains("store_unavailable"), "\(reply.body)")
            default:
                Issue.record("a delivery on a full disk got \(reply.status): \(reply.body.prefix(300))")
                consecutive = 5
            }
        }
        #expect(refused >= 5, "deliveries were refused with 503 once the disk was full (\(next) sent)")
        // Space returns: deliveries are accepted again, with no restart.
        try FileManager.default.removeItem(atPath: filler)
        let back = Date().addingTimeInterval(30)
        while try await send().status != 202 {
            try #require(Date() < back, "deliveries were not accepted again after space returned")
            try await Task.sleep(for: .milliseconds(200))
        }
        for _ in 0..<5 { #expect(try await send().status == 202) }

        // Every acknowledged delivery is processed: its deal reaches the sink.
        let drained = Date().addingTimeInterval(90)
        var written = Set<String>()
        while Date() < drained {
            written = Set(SinkLog.lines(sink).compactMap { $0.split(separator: " ").last.map(String.init) })
            if acknowledged.isSubset(of: written) { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(acknowledged.isSubset(of: written), "acknowledged but never processed: \(acknowledged.subtracting(written).sorted().prefix(10))")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let lines = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self).split(separator: "\n")
        let down = lines.filter { $0.contains("the store cannot write") }
        #expect(down.count == 1, "the outage is logged once, not per delivery: \(down.count) lines")
        #expect(lines.contains { $0.contains("the store writes again") })
        let errors = lines.filter { $0.contains(#""level":"error""#) }
        #expect(errors.count <= 3, "\(refused) refused deliveries must not each log an error: \(errors.count) error lines, e.g. \(errors.prefix(3))")
        print("full disk: \(acknowledged.count) acknowledged, \(refused) refused with 503, \(written.count) processed")
    }
}
