import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardConformance
import SwitchboardHost
import SwitchboardRuntime

extension PluginsCommand {
    /// Runs every operation a plugin declares once, in process, and prints each outcome.
    /// A quick check while developing; `switchboard plugin test` is the full conformance run.
    struct Smoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a plugin with a config and run each of its operations once.")

        @Argument(help: "Path to the plugin .so")
        var path: String

        @Option(help: "Config JSON, or @FILE to read it from a file (default: the fixture's, else {}).")
        var config: String?

        @Option(help: "A fixture (docs/CONFORMANCE.md): the system the plugin talks to, served on loopback, or a test instance (its egress.allow), reached through host egress with the fixture's auth and vault values.")
        var fixture: String?

        func run() throws {
            let plugin = try loadOrExit(path)
            var services = InstanceServices()
            var configBytes = try readConfig(config ?? "{}")
            var server: FixtureServer?
            defer { server?.stop() }
            if let fixture {
                let loaded: Fixture
                do throws(ConfigError) { loaded = try Fixture.load(file: fixture) } catch {
                    printError(error.description)
                    throw Exit.badConfig
                }
                let target = try FixtureTarget.start(loaded)
                server = target.server
                services = InstanceServices(tenant: "smoke", connection: "smoke", secrets: target.secrets,
                                            rawSecretsAllowed: target.secrets != nil, egress: target.egress)
                if config == nil, let fromFixture = loaded.config(fixtureURL: target.server?.url ?? "") { configBytes = fromFixture }
            }
            let (lines, ok) = PluginSmoke.run(plugin, config: configBytes, services: services)
            lines.forEach { print(TerminalText.line($0)) }   // the plugin's own text, inert
            if !ok { throw Exit.failed }
        }
    }
}

/// Reads `--config`: inline JSON, or @FILE.
func readConfig(_ argument: String) throws -> [UInt8] {
    guard argument.hasPrefix("@") else { return Array(argument.utf8) }
    let file = String(argument.dropFirst())
    guard let data = FileManager.default.contents(atPath: file) else {
        printError("\(file): cannot read the config file")
        throw Exit.unreadable
    }
    return Array(data)
}
