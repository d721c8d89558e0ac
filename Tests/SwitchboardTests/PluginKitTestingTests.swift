import Foundation
import SwitchboardPluginKit
import SwitchboardPluginKitTesting
import Testing

/// A connector written the way a partner would, to be unit-tested with the fake host.
final class ItemsConnector: ConnectorPlugin {
    static let manifest = PluginManifest(id: "items", version: "1.0.0", kind: .connector, capabilities: [.read, .write, .hostEgress])
    static let configSchema = #"{"type":"object","required":["url"],"properties":{"url":{"type":"string"}}}"#
    let url: String

    static func validate(config: [UInt8]) -> [PluginDiagnostic] {
        let object = (try? JSONSerialization.jsonObject(with: Data(config))) as? [String: Any]
        return (object?["url"] as? String)?.hasPrefix("http") == true ? [] : [PluginDiagnostic("must be an http(s) URL", fieldPath: "url")]
    }

    init(config: [UInt8], host: HostCall) throws {
        url = ((try? JSONSerialization.jsonObject(with: Data(config))) as? [String: Any])?["url"] as? String ?? ""
    }

    func read(_ request: ReadRequest, host: HostCall) throws {
        let response = try host.http(method: "GET", url: url + "/items")
        switch response.status {
        case 200: break
        case 401: throw PluginError(.auth, "the token was refused")
        default: throw PluginError(.retry, "HTTP \(response.status)")
        }
        let items = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [[String: Any]] ?? []
        for item in items {
            guard !host.isCancelled else { throw PluginError(.cancelled, "stopped") }
            let id = item["id"] as? String ?? ""
            try host.emitRecord(entity: "Account", json: Array(#"{"external_id":"\#(id)","name":"\#(id)","updated_at":"2026-11-02T09:00:00Z"}"#.utf8))
        }
        try host.emitState(stream: request.stream, state: Array(#"{"done":true}"#.utf8))
    }

    func write(_ request: WriteRequest, host: HostCall) throws -> String {
        let response = try host.http(method: "POST", url: url + "/items", headers: [("Idempotency-Key", request.idempotencyKey)], body: request.record)
        guard response.status == 201 else { throw PluginError(.fatal, "HTTP \(response.status)") }
        return "I-\(response.body.count)"
    }
}

/// SwitchboardPluginKitTesting, the fake host partners unit-test their plugins with (issue 27, item 3).
@Suite struct PluginKitTestingTests {
    @Test func aSwiftPluginRunsAgainstScriptedEgressWithEverythingCaptured() throws {
        let host = try FakeHost(plugin: ItemsConnector.self)
        #expect(host.validate(config: #"{"url": 7}"#) == .config)
        #expect(host.diagnostics.contains { $0.fieldPath == "url" && $0.summary == "must be an http(s) URL" }, "\(host.diagnostics)")
        #expect(host.open(config: #"{"url":"https://api.example"}"#) == .ok)

        host.answer("GET", "https://api.example/items", status: 200, body: #"[{"id":"A-1"},{"id":"A-2"}]"#, times: 1)
        #expect(host.read(stream: "items") == .ok)
        #expect(host.records.map(\.entity) == ["Account", "Account"])
        #expect(host.records[1].json.contains(#""external_id":"A-2""#))
        #expect(host.states.map(\.state) == [#"{"done":true}"#])
        #expect(host.requests.count == 1 && host.requests[0].authInjected)

        // The scripted answer was used up: the next request is outside what the host allows.
        #expect(host.read(stream: "items") == .config)
        #expect(host.diagnostics.contains { $0.summary.contains("no scripted answer for GET https://api.example/items") })

        host.answer("GET", "https://api.example/items", status: 401, body: "{}", times: 1)
        #expect(host.read(stream: "items") == .auth)
        host.fail("GET", "https://api.example/items", with: .retry, times: 1)
        #expect(host.read(stream: "items") == .retry)

        host.answer("POST", "https://api.example/items", status: 201, body: #"{"id":"I-1"}"#)
        #expect(host.write(entity: "Account", idempotencyKey: "k-1", record: #"{"name":"A"}"#) == .ok)
        #expect(host.writeResults == ["I-12"])
        #expect(host.requests.first?.headers.contains("Idempotency-Key: k-1") == true)
        #expect(String(decoding: host.requests.first?.body ?? [], as: UTF8.self) == #"{"name":"A"}"#)

        // The host stops the call after one record: the plugin sees it and returns.
        host.answer("GET", "https://api.example/items", status: 200, body: #"[{"id":"A-1"},{"id":"A-2"}]"#)
        host.cancel(afterEmits: 1)
        #expect(host.read(stream: "items") == .cancelled)
        #expect(host.records.count == 1)
    }

    /// The same fake host drives a C plugin .so: the walkthrough's connector, its paging state and its writes.
    @Test func aCPluginLibraryRunsAgainstTheFakeHost() throws {
        let built = try ConformanceFixtureTests.build("fake host")
        let host = try FakeHost(library: built.plugin)
        #expect(host.open(config: #"{"url":"https://api.example/v1"}"#) == .ok)
        host.answer("GET", "https://api.example/v1/projects?updated_at_gte=1970-01-01T00%3A00%3A00Z", status: 200,
                    body: #"[{"id":"P-1","name":"Web","client":"A-1","state":"active","updated_at":"2026-11-02T09:00:00Z"}]"#, times: 1)
        #expect(host.read(stream: "projects", maxRecords: 10) == .ok, "\(host.diagnostics)")
        #expect(host.records.count == 1)
        #expect(host.states.first?.state == #"{"since":"2026-11-02T09:00:00Z","at":["P-1"]}"#)
        // Resuming from that state asks for what changed since, and skips what it read at that second.
        host.answer("GET", "https://api.example/v1/projects?updated_at_gte=2026-11-02T09%3A00%3A00Z", status: 200,
                    body: #"[{"id":"P-1","name":"Web","client":"A-1","state":"active","updated_at":"2026-11-02T09:00:00Z"}]"#, times: 1)
        #expect(host.read(stream: "projects", state: #"{"since":"2026-11-02T09:00:00Z","at":["P-1"]}"#) == .ok)
        #expect(host.records.isEmpty)
        host.answer("POST", "https://api.example/v1/projects", status: 201, body: #"{"id":"P-7"}"#, times: 1)
        #expect(host.write(entity: "Project", idempotencyKey: "key-7", record: #"{"name":"X","account":"A-1","status":"active"}"#) == .ok)
        #expect(host.writeResults == ["P-7"])
    }

    /// The C harness in the walkthrough works word for word: the C test compiles against the header and passes.
    @Test func theWalkthroughsCUnitTestPasses() throws {
        let doc = try String(contentsOfFile: ConformanceFixtureTests.walkthrough, encoding: .utf8)
        let dir = TestEnv.tempDir("walkthrough-unit")
        try FileManager.default.createSymbolicLink(atPath: dir + "/PluginSDK", withDestinationPath: TestEnv.repoRoot + "/PluginSDK")
        try ReadmeWalkthroughTests.block("projects.c", in: doc).write(toFile: dir + "/projects.c", atomically: true, encoding: .utf8)
        try ReadmeWalkthroughTests.block("projects_test.c", in: doc).write(toFile: dir + "/projects_test.c", atomically: true, encoding: .utf8)
        let commands = try ReadmeWalkthroughTests.block("projects-unit-commands", in: doc)
        let result = try TestEnv.shell("set -e\n" + commands, in: dir)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("projects_test: all passed"), "\(result.stdout)")
    }
}
