import Foundation
import SwitchboardABI
import SwitchboardCore
import SwitchboardStore
import Testing

/// The documented exit codes and messages of `switchboard plugins`.
@Suite struct CLITests {
    /// Every command and subcommand parses its own options (two options of one name make
    /// the argument parser refuse the whole command at run time, as `exceptions retry` once did).
    /// Text from outside (a plugin's diagnostic kept in the audit trail, an exception item, a manifest) cannot drive
    /// the operator's terminal or forge lines: ESC, CR, NUL and newlines print as visible escapes (issue 26).
    @Test func outsideTextIsPrintedInert() throws {
        let dir = TestEnv.tempDir("sbinert")
        try "version: 1\nstore: sqlite:\(dir)/store.db\ntenants: [ { id: acme } ]\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let store = try SQLiteStore(path: dir + "/store.db")
        try store.audit(actor: "switchboard", action: "webhook.refuse", target: "acme/crm",
                        detail: "bad\u{1B}[2J\u{1B}]0;pwned\u{07}\r\n999  forged  line\u{0}", now: Clock.nowMillis())
        let log = try TestEnv.run(TestEnv.switchboard, ["audit", "log", "--config", dir + "/c.yaml"])
        #expect(log.status == 0, "\(log.stderr)")
        #expect(!log.stdout.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" }, "\(log.stdout.debugDescription)")
        #expect(log.stdout.split(separator: "\n").count == 1, "one row, one line: \(log.stdout.debugDescription)")
        #expect(log.stdout.contains(#"bad\u{1B}[2J\u{1B}]0;pwned\u{7}\u{D}\u{A}999  forged  line"#), "\(log.stdout.debugDescription)")
    }

    @Test func everyCommandsHelpParses() throws {
        func subcommands(_ path: [String]) throws -> [[String]] {
            let help = try TestEnv.run(TestEnv.switchboard, path + ["--help"])
            #expect(help.status == 0, "switchboard \(path.joined(separator: " ")) --help: \(help.stdout)\(help.stderr)")
            guard let section = help.stdout.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { return [path] }
            let names = section.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
                return String(name)
            }.filter { $0 != "See" && $0 != "help" }
            return try [path] + names.flatMap { try subcommands(path + [$0]) }
        }
        let all = try subcommands([])
        #expect(all.count > 30)
        #expect(all.contains(["exceptions", "retry"]))
    }

    @Test func listLoadsGoodPluginsAndReportsRefusalsWithExit1() throws {
        let dir = TestEnv.tempDir()
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-c.so"), toPath: dir + "/example-c.so")
        try "junk".write(toFile: dir + "/broken.so", atomically: true, encoding: .utf8)
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "list", "--dir", dir])
        #expect(result.status == 1)
        #expect(result.stdout.contains("1 loaded, 1 refused"))
        #expect(result.stdout.contains("example-c 1.0.0"))
        #expect(result.stdout.contains("broken.so: not an ELF shared object"))
        let json = try TestEnv.run(TestEnv.switchboard, ["plugins", "list", "--dir", dir, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["refused"] as? [[String: Any]])?.first?["code"] as? String == "not-elf")
    }

    @Test func listOfAGoodDirectoryExits0() throws {
        let dir = TestEnv.tempDir()
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-swift.so"), toPath: dir + "/s.so")
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "list"], environment: ["SWITCHBOARD_PLUGIN_DIR": dir])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("example-swift"))
    }

    @Test func missingDirectoryExits3() throws {
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "list", "--dir", "/nonexistent-plugins"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("/nonexistent-plugins: cannot read the plugin directory"))
    }

    @Test func inspectOfARefusedFileExits2WithTheReason() throws {
        let plugin = try TestEnv.fixture("major9", ["FIX_MAJOR=9"])
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "inspect", plugin])
        #expect(result.status == 2)
        #expect(result.stderr.contains("built for plugin ABI major 9, this host speaks ABI major 1"))
    }

    @Test func inspectJSONCarriesManifestAndSpec() throws {
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "inspect", TestEnv.product("libsbplugin-example-c.so"), "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "example-c")
        #expect(object["kind"] as? String == "connector")
        #expect((object["capabilities"] as? [String])?.contains("read") == true)
        #expect((object["config_spec"] as? [String: Any])?["required"] as? [String] == ["accounts"])
        #expect((object["abi"] as? [String: Any])?["negotiated_minor"] as? Int == Int(SB_ABI_MINOR))
    }

    @Test func smokeWithABadConfigExits1AndNamesTheField() throws {
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", TestEnv.product("libsbplugin-example-c.so"),
                                                           "--config", #"{"accounts": "many"}"#])
        #expect(result.status == 1)
        #expect(result.stdout.contains("validate_config  CONFIG: accounts: must be an integer from 0 to 100000"))
    }

    /// Two writes that both failed show nothing about idempotency (before: "same id: idempotent", since neither had an id).
    @Test func smokeClaimsIdempotencyOnlyFromTwoWritesThatSucceeded() throws {
        let failing = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", TestEnv.product("libsbplugin-testkit.so"),
                                                            "--config", #"{"role": "sink", "misbehave": "fatal"}"#])
        #expect(failing.status == 1)
        #expect(failing.stdout.contains("idempotency not shown: the writes did not both succeed") && !failing.stdout.contains("idempotent\n"),
                "\(failing.stdout)")
        let working = try TestEnv.run(TestEnv.switchboard, ["plugins", "smoke", TestEnv.product("libsbplugin-testkit.so"),
                                                            "--config", #"{"role": "sink"}"#])
        #expect(working.stdout.contains("same id: idempotent"), "\(working.stdout)")
    }

    @Test func usageErrorExits64() throws {
        let result = try TestEnv.run(TestEnv.switchboard, ["plugins", "inspect"])
        #expect(result.status == 64)
    }
}
