import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardHost
import SwitchboardSandbox

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List, inspect and exercise plugin libraries.",
        subcommands: [List.self, Inspect.self, Smoke.self]
    )

    /// The plugin directory: --dir, else $SWITCHBOARD_PLUGIN_DIR, else ./plugins.
    static func defaultDirectory() -> String {
        ProcessInfo.processInfo.environment["SWITCHBOARD_PLUGIN_DIR"] ?? "plugins"
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the plugins in a directory and why any file was refused.")

        @Option(help: "Plugin directory (default: $SWITCHBOARD_PLUGIN_DIR or ./plugins).")
        var dir: String?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directory = dir ?? PluginsCommand.defaultDirectory()
            let catalog: PluginCatalog
            do {
                // Manifests are read in a sandbox probe: listing a folder of untrusted plugins runs none of their code here.
                let inspector = SandboxInspector()
                defer { inspector.close() }
                catalog = try PluginCatalog.discover(directory: directory, inspect: inspector.inspect)
            } catch {
                printError(error.description)
                throw Exit.unreadable
            }
            if json {
                let document: [String: Any] = [
                    "directory": directory,
                    "plugins": catalog.plugins.map { Report.descriptorJSON($0) },
                    "refused": catalog.refused.map { ["path": $0.path, "code": $0.code, "error": $0.description] },
                ]
                print(Report.json(document))
            } else {
                print("Plugins in \(directory): \(catalog.plugins.count) loaded, \(catalog.refused.count) refused")
                for plugin in catalog.plugins {
                    let d = plugin.descriptor
                    print(TerminalText.line("  \(d.id) \(d.version)  \(d.kind.rawValue)  ABI \(d.abiMajor).\(d.abiMinor)  [\(d.capabilities.joined(separator: ", "))]  \(plugin.path)"))
                }
                for refusal in catalog.refused { print(TerminalText.line("  refused: \(refusal.description)")) }
            }
            if !catalog.refused.isEmpty { throw Exit.failed }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a plugin's manifest, ABI, capabilities and config spec.")

        @Argument(help: "Path to the plugin .so")
        var path: String

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let plugin = try loadOrExit(path)
            let spec: String
            do {
                spec = try plugin.configSpec()
            } catch {
                printError(error.description)
                throw Exit.failed
            }
            if json {
                var document = Report.descriptorJSON(plugin.info)
                document["config_spec"] = (try? JSONSerialization.jsonObject(with: Data(spec.utf8))) ?? spec
                print(Report.json(document))
                return
            }
            let d = plugin.descriptor
            // Name, vendor and description are the plugin's own strings: printed inert.
            let safe = { (text: String?) in TerminalText.line(text ?? "-") }
            print("""
                \(safe(d.name ?? d.id)) (\(d.id) \(d.version))
                  kind:          \(d.kind.rawValue)
                  vendor:        \(safe(d.vendor))
                  description:   \(safe(d.description))
                  ABI:           built for \(d.abiMajor).\(d.abiMinor), host \(PluginLibrary.hostABIMajor).\(PluginLibrary.hostABIMinor), negotiated \(PluginLibrary.hostABIMajor).\(plugin.negotiatedMinor)
                  capabilities:  \(d.capabilities.joined(separator: ", "))
                  file:          \(plugin.path)
                  config spec:
                """)
            print(Report.prettyJSON(spec).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
    }
}

/// Loads a plugin or prints the loader's refusal and exits 2.
func loadOrExit(_ path: String) throws -> PluginLibrary {
    do {
        return try PluginLibrary.load(path: path)
    } catch {
        printError("refused: \(error.description)")
        throw Exit.refused
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

enum Report {
    static func descriptorJSON(_ plugin: PluginInfo) -> [String: Any] {
        let d = plugin.descriptor
        var out: [String: Any] = [
            "id": d.id, "version": d.version, "kind": d.kind.rawValue, "capabilities": d.capabilities,
            "abi": ["major": d.abiMajor, "minor": d.abiMinor, "negotiated_minor": plugin.negotiatedMinor],
            "path": plugin.path,
        ]
        if let name = d.name { out["name"] = name }
        if let description = d.description { out["description"] = description }
        if let vendor = d.vendor { out["vendor"] = vendor }
        return out
    }

    static func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func prettyJSON(_ text: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { return text }
        return json(object)
    }
}
