// o2c: the opportunity-to-cash workflow plugin (the quickstart's accelerator).
// On opportunity.won it shapes the delivery project the PSA should create:
// name, budget from the deal amount, billing method, and a skip for deals
// nobody can bill. The runtime's next step writes it.
import Foundation
import SwitchboardPluginKit

final class OpportunityToCash: WorkflowPlugin {
    static let manifest = PluginManifest(
        id: "o2c", version: "1.0.0", kind: .workflow, capabilities: [.onEvent],
        name: "Opportunity to cash", description: "Won deal -> PSA project; the accelerator's decisions in one place",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "properties":{"project_suffix":{"type":"string"},"default_billing":{"enum":["time_and_materials","fixed_price","milestone","retainer"]}}}
        """

    let suffix: String
    let defaultBilling: String

    static func validate(config: [UInt8]) -> [PluginDiagnostic] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(config)) as? [String: Any] else {
            return [PluginDiagnostic("config is not a JSON object")]
        }
        var problems: [PluginDiagnostic] = []
        for key in object.keys where !["project_suffix", "default_billing"].contains(key) {
            problems.append(PluginDiagnostic("unknown field", fieldPath: key))
        }
        if let suffix = object["project_suffix"], !(suffix is String) {
            problems.append(PluginDiagnostic("must be a string", fieldPath: "project_suffix"))
        }
        if let billing = object["default_billing"], !["time_and_materials", "fixed_price", "milestone", "retainer"].contains(billing as? String ?? "") {
            problems.append(PluginDiagnostic("must be time_and_materials, fixed_price, milestone or retainer", fieldPath: "default_billing"))
        }
        return problems
    }

    init(config: [UInt8], host: HostCall) throws {
        let object = (try? JSONSerialization.jsonObject(with: Data(config)) as? [String: Any]) ?? [:]
        suffix = object["project_suffix"] as? String ?? "delivery"
        defaultBilling = object["default_billing"] as? String ?? "time_and_materials"
    }

    func onEvent(type: String, event: [UInt8], host: HostCall) throws {
        guard type == "opportunity.won" else {
            try host.emitCommand(json: Array(#"{"skip":"o2c handles opportunity.won only"}"#.utf8))
            return
        }
        guard let deal = try JSONSerialization.jsonObject(with: Data(event)) as? [String: Any] else {
            throw PluginError.fatal("event is not a JSON object")
        }
        guard let id = deal["external_id"] as? String, let name = deal["name"] as? String,
              let account = deal["account"] as? String, let amount = deal["amount"] as? [String: Any] else {
            throw PluginError.fatal("won deal lacks external_id, name, account or amount", fieldPath: "account")
        }
        let custom = deal["custom"] as? [String: Any] ?? [:]
        var project: [String: Any] = [
            "external_id": id,
            "source": deal["source"] as? String ?? "",
            "updated_at": deal["updated_at"] as? String ?? "",
            "name": "\(name) \(suffix)",
            "account": account,
            "opportunity": id,
            "status": "planned",
            "budget": amount,
            "billing_method": custom["billing_method"] as? String ?? defaultBilling,
        ]
        if let close = deal["close_date"] as? String { project["start_date"] = close }
        if let owner = deal["owner"] as? String { project["manager"] = owner }
        let command = try JSONSerialization.data(withJSONObject: ["set": project], options: [.sortedKeys])
        host.count("o2c_projects_shaped")
        try host.emitCommand(json: Array(command))
    }
}

@_cdecl("switchboard_plugin_manifest")
public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(OpportunityToCash.self) }

@_cdecl("switchboard_plugin_init")
public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
    PluginExport.initialize(OpportunityToCash.self, args, result)
}
