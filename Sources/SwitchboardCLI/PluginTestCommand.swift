import ArgumentParser
import Foundation
import SwitchboardConformance
import SwitchboardRuntime
import SwitchboardSandbox

/// `switchboard plugin test`: the partner conformance runner (README "Test your plugin in CI").
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "Test a plugin before you ship it.",
        subcommands: [Test.self]
    )

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the conformance suite against a plugin .so, in the sandbox.",
            discussion: """
                Checks the manifest and ABI, the config spec, validate_config, check_connection's error classes, \
                discover, read (valid records, resume from state), write idempotency and updates read back at the target, \
                HTTP error classes against a fixture (--fixture, docs/CONFORMANCE.md), error diagnostics, \
                boundary fuzzing and stray output; with --leaks also valgrind. Exit 0 when every check passes, 1 otherwise.
                """
        )

        @Argument(help: "The plugin .so to test.")
        var path: String

        @Option(help: "A JSON file with the config to open the plugin with (default: the fixture's, else built from the spec's required fields).")
        var config: String?

        @Option(help: "A fixture (YAML, docs/CONFORMANCE.md): the remote system the connector talks to, served on loopback through real host egress, or a test instance.")
        var fixture: String?

        @Option(help: "Write a JUnit XML report here.")
        var junit: String?

        @Flag(help: "Also run the plugin's operations under valgrind (definite leaks, invalid accesses).")
        var leaks = false

        @Option(help: "Mutated inputs for boundary fuzzing.")
        var fuzz = 10_000

        @Option(help: "Fuzzing seed (the same seed replays the same inputs).")
        var seed: UInt64 = 1

        @Option(help: "Deadline of each plugin call in milliseconds.")
        var callTimeout: Int64 = 5_000

        @Option(help: "Time budget of each check in seconds (fuzzing: 10x).")
        var budget: Double = 30

        @Option(help: "Address-space limit of the sandbox worker in MiB (test under your production limit).")
        var memoryMb = 2048

        @Option(help: "Save inputs that broke the plugin in this folder.")
        var artifacts: String?

        @Option(name: .customLong("read"), help: "A path the sandboxed plugin may read (as a connection's files.read; repeatable).")
        var readPaths: [String] = []

        @Option(name: .customLong("write"), help: "A path the sandboxed plugin may read and write (as a connection's files.write; repeatable).")
        var writePaths: [String] = []

        func run() throws {
            var options = ConformanceOptions(path: path)
            if let config {
                guard let data = FileManager.default.contents(atPath: config) else {
                    printError("\(config): cannot read the config file")
                    throw Exit.unreadable
                }
                options.config = Array(data)
            }
            if let fixture {
                do throws(ConfigError) { options.fixture = try Fixture.load(file: fixture) } catch {
                    printError(error.description)
                    throw Exit.badConfig
                }
            }
            options.fuzzIterations = max(fuzz, 0)
            options.seed = seed
            options.callTimeoutMillis = max(callTimeout, 100)
            options.stepBudgetSeconds = budget
            options.fuzzBudgetSeconds = budget * 10
            options.leaks = leaks
            options.artifactsDir = artifacts
            options.sandbox.limits.memoryMB = max(memoryMb, 128)
            options.sandbox.files = FileGrants(read: readPaths.map(absolute), write: writePaths.map(absolute))
            let report = ConformanceRunner.run(options) { name in
                FileHandle.standardError.write(Data("  running \(name)...\n".utf8))
            }
            print(report.text)
            if let junit {
                do { try report.junit.write(toFile: junit, atomically: true, encoding: .utf8) } catch {
                    printError("\(junit): cannot write the JUnit report: \(error.localizedDescription)")
                    throw Exit.failed
                }
            }
            if !report.passed { throw Exit.failed }
        }

        private func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
    }
}
