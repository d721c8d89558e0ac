import Foundation
import SwitchboardCore

/// Opens a plugin with a config and runs each operation it declares once,
/// reporting one line per operation. Shared by `switchboard plugins smoke` and
/// the small `switchboard-plugin-smoke` binary the valgrind tests run (the
/// full CLI links libraries whose debug info valgrind 3.19 cannot read).
public enum PluginSmoke {
    /// Returns the report lines and whether every operation behaved. `services` gives the instance its host
    /// services (egress to a fixture or a test instance, with credentials injected); by default it has none.
    public static func run(_ plugin: PluginLibrary, config configBytes: [UInt8],
                           services: InstanceServices = InstanceServices()) -> (lines: [String], ok: Bool) {
        var lines: [String] = []
        var failures = 0
        func show(_ op: String, _ outcome: CallOutcome, _ extra: String = "") {
            if !outcome.isOK { failures += 1 }
            lines.append("  \(op.padding(toLength: 16, withPad: " ", startingAt: 0)) \(outcome.summary)\(extra.isEmpty ? "" : "  " + extra)")
        }
        lines.append("\(plugin.descriptor.id) \(plugin.descriptor.version)")
        do {
            let spec = try plugin.configSpec()
            show("spec", CallOutcome(status: .ok), "\(spec.utf8.count) bytes of JSON Schema")
        } catch {
            show("spec", error.outcome)
        }
        let validation = plugin.validate(config: configBytes)
        show("validate_config", validation)
        guard validation.isOK else { return (lines, false) }
        let instance: PluginInstance
        do {
            instance = try plugin.open(config: configBytes, services: services)
        } catch {
            show("open", error.outcome)
            return (lines, false)
        }
        show("open", CallOutcome(status: .ok))
        defer { instance.close() }

        if plugin.has(.check) { show("check_connection", instance.checkConnection()) }
        var streams: [String] = []
        var writable: [String] = []
        if plugin.has(.discover) {
            let (outcome, catalog) = instance.discover()
            show("discover", outcome, catalog ?? "")
            streams = streamNames(catalog ?? "")
            writable = writeNames(catalog ?? "")
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
        if plugin.has(.write) && plugin.has(.discover) && writable.isEmpty {
            lines.append("  \("write".padding(toLength: 16, withPad: " ", startingAt: 0)) not run: the catalogue lists no entity the plugin writes")
        } else if plugin.has(.write) {
            // An entity the catalogue says the plugin writes; a plugin with no catalogue at all gets an Account. (Not a
            // full canonical sample: the model's lazily built globals would show as leaks in the valgrind runs of this
            // smoke, which must show the plugin's only.)
            let entity = writable.first ?? "Account"
            let record = Array(#"{"external_id":"smoke-1","name":"Smoke test"}"#.utf8)
            let (first, id1) = instance.write(entity: entity, idempotencyKey: "smoke-key-1", record: record)
            let (second, id2) = instance.write(entity: entity, idempotencyKey: "smoke-key-1", record: record)
            show("write \(entity)", first, "external id \(id1 ?? "-")")
            // Idempotency is shown only by two writes that both succeeded.
            if first.isOK, second.isOK, let id1, let id2 {
                show("write (again)", second, id1 == id2 ? "same id: idempotent" : "DIFFERENT id \(id2): not idempotent")
                if id1 != id2 { failures += 1 }
            } else {
                show("write (again)", second, "idempotency not shown: the writes did not both succeed")
            }
        }
        if plugin.has(.webhook) {
            var events = 0
            let outcome = instance.handleWebhook(method: "POST", url: "/hooks/smoke", headers: [("Content-Type", "application/json")],
                                                 body: Array(#"{"id":"smoke"}"#.utf8)) { _ in
                events += 1
                return .ok
            }
            lines.append("  \("handle_webhook".padding(toLength: 16, withPad: " ", startingAt: 0)) \(outcome.summary)  \(events) events")
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
        return (lines, failures == 0)
    }

    static func streamNames(_ catalog: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(catalog.utf8)) as? [String: Any],
              let streams = object["streams"] as? [[String: Any]] else { return [] }
        return streams.compactMap { $0["name"] as? String }
    }

    static func writeNames(_ catalog: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(catalog.utf8)) as? [String: Any] else { return [] }
        return object["writes"] as? [String] ?? []
    }
}
