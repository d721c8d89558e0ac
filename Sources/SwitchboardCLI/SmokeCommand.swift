import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardHost

extension PluginsCommand {
    /// Runs every operation a plugin declares once, in process, and prints each outcome.
    /// A quick check while developing; `switchboard plugin test` is the full conformance run.
    struct Smoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a plugin with a config and run each of its operations once.")

        @Argument(help: "Path to the plugin .so")
        var path: String

        @Option(help: "Config JSON, or @FILE to read it from a file.")
        var config: String = "{}"

        func run() throws {
            let plugin = try loadOrExit(path)
            let (lines, ok) = PluginSmoke.run(plugin, config: try readConfig(config))
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
