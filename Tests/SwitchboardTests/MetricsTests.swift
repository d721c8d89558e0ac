import Foundation
import Testing

/// `switchboard run --metrics-port` exports the runtime's metrics in the Prometheus text format.
@Suite struct MetricsTests {
    @Test func runExportsPrometheusMetrics() throws {
        let dir = TestEnv.tempDir("sbmetrics")
        let port = TestEnv.freePort()
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-testkit.so"), toPath: plugins + "/libsbplugin-testkit.so")
        _ = try TestEnv.zoo("zoo-segv", ["ZOO_SEGV"], in: plugins)
        try """
            version: 1
            plugins: { dir: \(plugins), sandbox: { restart_backoff: 10ms, breaker_failures: 1000 } }
            tenants:
              - id: acme
                connections:
                  - { id: gen, plugin: testkit, config: { role: source, records: 50 }, poll: { every: 10ms, streams: [records] } }
                  - { id: sink, plugin: testkit, config: { role: sink } }
                  - { id: busy, plugin: testkit, config: { role: sink, misbehave: fatal } }
                  - { id: crashy, plugin: zoo-segv, config: { base_url: "https://x.invalid" }, poll: { every: 50ms, streams: [accounts] } }
                workflows:
                  - id: copy
                    trigger: { event: record.Account }
                    steps:
                      - map: { external_id: $.external_id, updated_at: $.updated_at, name: $.name }
                      - write: { connection: sink, entity: Account }
                  - { id: broken, trigger: { event: record.Account }, steps: [ { write: { connection: busy, entity: Account } } ] }
            """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        p.arguments = ["run", "--config", dir + "/c.yaml", "--metrics-port", String(port)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            usleep(300_000)
            let fetched = try TestEnv.run("/usr/bin/env", ["python3", "-c",
                "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:\(port)/metrics', timeout=2).read().decode())"])
            text = fetched.stdout
            if text.contains(#"switchboard_transactions_total{tenant="acme",workflow="copy",outcome="done"} 50"#)
                && text.contains("switchboard_exception_queue_depth{tenant=\"acme\"} 50")
                && text.contains(#"switchboard_connection_degraded{tenant="acme",connection="crashy"} 1"#) { break }
        }
        #expect(text.contains(#"switchboard_events_in_total{tenant="acme",connection="gen"} 50"#), "\(text.prefix(3000))")
        #expect(text.contains(#"switchboard_transactions_total{tenant="acme",workflow="copy",outcome="done"} 50"#))
        #expect(text.contains(#"switchboard_transactions_total{tenant="acme",workflow="broken",outcome="exception"} 50"#))
        #expect(text.contains("switchboard_exception_queue_depth{tenant=\"acme\"} 50"))
        #expect(text.contains("switchboard_transaction_seconds_bucket"))
        // Every step of every item is timed under its own workflow and step, items of the two workflows interleaved.
        #expect(text.contains(#"switchboard_step_seconds_count{workflow="copy",step="map"} 50"#), "\(text.prefix(6000))")
        #expect(text.contains(#"switchboard_step_seconds_count{workflow="copy",step="write Account to sink"} 50"#))
        #expect(text.contains(#"switchboard_step_seconds_count{workflow="broken",step="write Account to busy"} 50"#))
        // A sandboxed plugin that keeps crashing shows as degraded; its neighbours do not.
        #expect(text.contains(#"switchboard_connection_degraded{tenant="acme",connection="crashy"} 1"#))
        #expect(text.contains(#"switchboard_connection_degraded{tenant="acme",connection="gen"} 0"#))
        #expect(text.contains(#"switchboard_sandbox_worker_failures{tenant="acme",connection="crashy",kind="crash"}"#))
        // The scheduler's last finished poll round is recent (what an alert on a stuck scheduler watches).
        #expect(text.contains("switchboard_scheduler 1"))
        let lastRound = text.split(separator: "\n").first { $0.hasPrefix("switchboard_poll_round_timestamp_seconds ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
        #expect(lastRound.map { abs(Date().timeIntervalSince1970 - $0) < 10 } == true, "\(String(describing: lastRound))")
    }
}
