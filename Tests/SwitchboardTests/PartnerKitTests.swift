import Foundation
import Testing

/// The partner's tools outside the conformance runner (issue 27, item 5): `plugins smoke` against a fixture,
/// `run --exit-when-idle` that does not pass with changes unread, and config errors at the field's own line.
@Suite(.serialized) struct PartnerKitTests {
    /// A connection whose every poll fails: idle is reached (the run ends) but not "done", exit 6 names it.
    @Test func exitWhenIdleFailsNamingAConnectionThatCannotBeRead() throws {
        let dir = TestEnv.tempDir("sbidle")
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        _ = try TestEnv.zoo("zoo", id: "zoo", ["ZOO_READ_RETRY"], in: plugins)
        _ = try TestEnv.zoo("zoo-good", id: "zoo-good", in: plugins)
        func config(_ source: String) -> String {
            """
            version: 1
            store: sqlite:\(dir)/\(source).db
            plugins: \(plugins)
            tenants:
              - id: acme
                connections:
                  - id: src
                    plugin: \(source)
                    config: { base_url: "https://source.example", records: 3 }
                    poll: { every: 100ms, streams: [accounts] }
            """
        }
        try config("zoo").write(toFile: dir + "/down.yaml", atomically: true, encoding: .utf8)
        let down = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/down.yaml", "--exit-when-idle"],
                                   environment: ["SWITCHBOARD_LOG_LEVEL": "critical"])
        #expect(down.status == 6, "before: exit 0 with the source down\n\(down.stderr)")
        #expect(down.stderr.contains("acme/src/accounts: its last 3 polls failed (503 the source is busy)"), "\(down.stderr)")
        // The same run with a source that reads cleanly exits 0.
        try config("zoo-good").write(toFile: dir + "/up.yaml", atomically: true, encoding: .utf8)
        let up = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/up.yaml", "--exit-when-idle"],
                                 environment: ["SWITCHBOARD_LOG_LEVEL": "critical"])
        #expect(up.status == 0, "\(up.stderr)")
        // A paused connection is not read at all: that is not done either.
        let pause = try TestEnv.run(TestEnv.switchboard, ["connections", "pause", "acme/src", "--config", dir + "/up.yaml", "--reason", "maintenance"])
        #expect(pause.status == 0, "\(pause.stderr)")
        let paused = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/up.yaml", "--exit-when-idle"],
                                     environment: ["SWITCHBOARD_LOG_LEVEL": "critical"])
        #expect(paused.status == 6, "\(paused.stderr)")
        #expect(paused.stderr.contains("acme/src: paused (maintenance)"), "\(paused.stderr)")
    }

    /// A plugin's diagnostic about a field of its `config:` points at that field's line, not the connection's.
    @Test func aPluginConfigErrorPointsAtTheFieldsOwnLine() throws {
        let dir = TestEnv.tempDir("sbfieldline")
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        _ = try TestEnv.zoo("zoo", id: "zoo", in: plugins)
        try """
        version: 1
        store: sqlite:\(dir)/s.db
        plugins: \(plugins)
        tenants:
          - id: acme
            connections:
              - id: src
                plugin: zoo
                config:
                  base_url: "https://source.example"
                  records: many
        """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let run = try TestEnv.run(TestEnv.switchboard, ["run", "--config", dir + "/c.yaml", "--exit-when-idle"])
        #expect(run.status == 4, "\(run.stderr)")
        #expect(run.stderr.contains("c.yaml:11:"), "records is on line 11 (before: the connection's line 7)\n\(run.stderr)")
        #expect(run.stderr.contains("config.records: records must be a whole number"), "\(run.stderr)")
    }

    /// Smoke reaches the walkthrough's service through host egress with the fixture's credentials, writes an entity
    /// from the catalogue, and calls the writes idempotent only because both succeeded with one id.
    @Test func smokeRunsAnHTTPConnectorAgainstItsFixture() throws {
        let built = try ConformanceFixtureTests.build("smoke")
        let run = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", built.plugin, "--fixture", built.fixture])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("read projects"), "\(run.stdout)")
        #expect(run.stdout.contains("5 records"), "a page of 5 of the fixture's 12 projects\n\(run.stdout)")
        #expect(run.stdout.contains("write Project"), "\(run.stdout)")
        #expect(run.stdout.contains("same id: idempotent"), "\(run.stdout)")
        // Without the fixture there is no egress: the read fails and idempotency is not claimed.
        let bare = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", built.plugin, "--config", #"{"url":"https://projects.example/v1"}"#])
        #expect(bare.status == 1, "\(bare.stdout)")
        #expect(bare.stdout.contains("idempotency not shown: the writes did not both succeed"), "\(bare.stdout)")
        #expect(!bare.stdout.contains("same id: idempotent"))
    }

    /// A connector whose catalogue lists nothing it writes is not made to write an entity it never named.
    @Test func smokeWritesOnlyEntitiesFromTheCatalogue() throws {
        let built = try ConformanceFixtureTests.build("no writes listed", replacing: #",\"writes\":[\"Project\"]"#, with: "")
        let run = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", built.plugin, "--fixture", built.fixture])
        #expect(run.stdout.contains("not run: the catalogue lists no entity the plugin writes"), "\(run.stdout)")
        #expect(!run.stdout.contains("write Account"), "before: it wrote an Account\n\(run.stdout)")
    }
}
