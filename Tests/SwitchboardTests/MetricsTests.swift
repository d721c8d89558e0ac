import Foundation
import Testing

/// `switchboard run --metrics-port` exports the runtime's metrics in the Prometheus text format, through the
/// admin server's own `/metrics` handler (the same text on `--http-port`).
@Suite struct MetricsTests {
    @Test func runExportsPrometheusMetrics() throws {
        let dir = TestEnv.tempDir("sbmetrics")
        let port = TestEnv.freePort(), httpPort = TestEnv.freePort()
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-testkit.so"), toPath: plugins + "/libsbplugin-testkit.so")
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-c.so"), toPath: plugins + "/libsbplugin-example-c.so")
        _ = try TestEnv.zoo("zoo-segv", ["ZOO_SEGV"], in: plugins)
        try """
            version: 1
            plugins: { dir: \(plugins), sandbox: { restart_backoff: 10ms, breaker_failures: 1000 } }
            tenants:
              - id: acme
                connections:
                  - { id: gen, plugin: testkit, config: { role: source, records: 50 }, poll: { every: 10ms, streams: [records] } }
                  - { id: deals, plugin: example-c, config: { accounts: 0 } }
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
        p.arguments = ["run", "--config", dir + "/c.yaml", "--metrics-port", String(port), "--http-port", String(httpPort)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        func python(_ code: String, _ arguments: [String] = []) throws -> String {
            try TestEnv.run("/usr/bin/env", ["python3", "-c", code] + arguments).stdout
        }
        func scrape(_ port: Int) throws -> String {
            try python("import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:\(port)/metrics', timeout=2).read().decode())")
        }
        // Two webhook deliveries of one valid won deal (the second a redelivery): accepted events count in
        // switchboard_events_in_total as polled ones do (issue 28: only polling counted them), the redelivery does not.
        let deal = #"{"external_id":"D-1","updated_at":"2026-11-27T10:00:00Z","name":"Deal","account":"A-1","stage":"won","amount":{"amount":"100.00","currency":"EUR"}}"#
        var answers: [String] = []
        let posting = Date().addingTimeInterval(20)
        while answers.count < 2 && Date() < posting {
            usleep(200_000)
            let answer = try python("""
                import urllib.request,sys
                r = urllib.request.Request('http://127.0.0.1:\(httpPort)/hooks/acme/deals', data=sys.argv[1].encode(), method='POST',
                                           headers={'Content-Type': 'application/json'})
                try: sys.stdout.write(urllib.request.urlopen(r, timeout=5).read().decode())
                except Exception as e: sys.stdout.write('error %s' % e)
                """, [deal])
            if answer.contains("accepted") { answers.append(answer) }
        }
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            usleep(300_000)
            text = try scrape(port)
            if text.contains(#"switchboard_transactions_total{tenant="acme",workflow="copy",outcome="done"} 50"#)
                && text.contains("switchboard_exception_queue_depth{tenant=\"acme\"} 50")
                && text.contains(#"switchboard_connection_degraded{tenant="acme",connection="crashy"} 1"#) { break }
        }
        #expect(text.contains(#"switchboard_events_in_total{tenant="acme",connection="gen"} 50"#), "\(text.prefix(3000))")
        #expect(answers.count == 2 && answers[0].contains(#""accepted":1"#) && answers[1].contains(#""duplicates":1"#), "\(answers)")
        #expect(text.contains(#"switchboard_events_in_total{tenant="acme",connection="deals"} 1"#), "\(text.prefix(3000))")
        // One handler: the admin server's /metrics shows the same series.
        #expect(try scrape(httpPort).contains(#"switchboard_events_in_total{tenant="acme",connection="deals"} 1"#))
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
