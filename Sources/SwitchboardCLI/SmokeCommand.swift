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
            let configBytes = try readConfig(config)
            var failures = 0
            func show(_ op: String, _ outcome: CallOutcome, _ extra: String = "") {
                if !outcome.isOK { failures += 1 }
                print("  \(op.padding(toLength: 16, withPad: " ", startingAt: 0)) \(outcome.summary)\(extra.isEmpty ? "" : "  " + extra)")
            }
            print("\(plugin.descriptor.id) \(plugin.descriptor.version)")
            do {
                let spec = try plugin.configSpec()
                show("spec", CallOutcome(status: .ok), "\(spec.utf8.count) bytes of JSON Schema")
            } catch {
                show("spec", error.outcome)
            }
            let validation = plugin.validate(config: configBytes)
            show("validate_config", validation)
            guard validation.isOK else { throw Exit.failed }
            let instance: PluginInstance
            do {
                instance = try plugin.open(config: configBytes)
            } catch {
                show("open", error.outcome)
                throw Exit.failed
            }
            show("open", CallOutcome(status: .ok))
            defer { instance.close() }

            if plugin.has(.check) { show("check_connection", instance.checkConnection()) }
            var streams: [String] = []
            if plugin.has(.discover) {
                let (outcome, catalog) = instance.discover()
                show("discover", outcome, catalog ?? "")
                streams = Self.streamNames(catalog ?? "")
            }
            if plugin.has(.read) {
                for stream in streams {
                    var records = 0
                    var state: [UInt8] = []
                    let outcome = instance.read(stream: stream, state: [], maxRecords: 5) { item in
                        if item.kind == .record { records += 1 }
                        if item.kind == .state { state = item.dataBytes }
                        return .ok
                    }
                    show("read \(stream)", outcome, "\(records) records, state \(String(decoding: state, as: UTF8.self))")
                }
            }
            if plugin.has(.write) {
                let record = Array(#"{"external_id":"smoke-1","name":"Smoke test"}"#.utf8)
                let (first, id1) = instance.write(entity: "Account", idempotencyKey: "smoke-key-1", record: record)
                let (second, id2) = instance.write(entity: "Account", idempotencyKey: "smoke-key-1", record: record)
                show("write", first, "external id \(id1 ?? "-")")
                show("write (again)", second, id1 == id2 ? "same id: idempotent" : "DIFFERENT id \(id2 ?? "-"): not idempotent")
                if id1 != id2 { failures += 1 }
            }
            if plugin.has(.webhook) {
                var events = 0
                let outcome = instance.handleWebhook(method: "POST", url: "/hooks/smoke", headers: [("Content-Type", "application/json")],
                                                     body: Array(#"{"id":"smoke"}"#.utf8)) { _ in
                    events += 1
                    return .ok
                }
                print("  \("handle_webhook".padding(toLength: 16, withPad: " ", startingAt: 0)) \(outcome.summary)  \(events) events")
            }
            if plugin.has(.onEvent) {
                var commands = 0
                let event = Array(#"{"type":"opportunity.won","id":"smoke"}"#.utf8)
                let outcome = event.withUnsafeBytes { bytes in
                    instance.onEvent(type: "opportunity.won", event: bytes) { _ in
                        commands += 1
                        return .ok
                    }
                }
                show("on_event", outcome, "\(commands) commands")
            }
            if failures > 0 { throw Exit.failed }
        }

        static func streamNames(_ catalog: String) -> [String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(catalog.utf8)) as? [String: Any],
                  let streams = object["streams"] as? [[String: Any]] else { return [] }
            return streams.compactMap { $0["name"] as? String }
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
