// o2c: the opportunity-to-cash accelerator's decisions in one place.
//
// Two modes, chosen by its config:
// - shaping (no `erp`): on opportunity.won it shapes the delivery project the
//   PSA should create and hands it to the workflow's next step (the quickstart).
// - accelerator (`crm` and `erp` name connections): it drives the whole flow
//   with write commands, one workflow per event:
//     opportunity.won  -> customer (Account) and project with tasks and budget (Project) at erp
//     project.created  -> the project's reference onto the deal at crm
//     time.approved    -> the time invoiced and the invoice posted (Invoice) at erp
//     invoice.posted   -> invoice number and status onto the deal at crm
//     payment.received -> the payment onto the deal at crm
// Every write carries a key, so the host's ledger makes a replayed event a no-op.
import Foundation
import SwitchboardPluginKit

final class OpportunityToCash: WorkflowPlugin {
    static let manifest = PluginManifest(
        id: "o2c", version: "1.1.0", kind: .workflow, capabilities: [.onEvent],
        name: "Opportunity to cash", description: "Won deal -> customer and project -> invoiced time -> invoice and payment back on the deal",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "properties":{"project_suffix":{"type":"string"},
                       "default_billing":{"enum":["time_and_materials","fixed_price","milestone","retainer"]},
                       "crm":{"type":"string","description":"Connection of the CRM (accelerator mode)"},
                       "erp":{"type":"string","description":"Connection of the PSA/ERP (accelerator mode)"},
                       "service_item":{"type":"string","description":"Service item (product code) billed for project time"},
                       "hourly_rate":{"type":"string","description":"Hourly rate billed (decimal string)"},
                       "tasks":{"type":"array","items":{"type":"string"},"description":"Tasks every new project starts with"}}}
        """

    static let keys = ["project_suffix", "default_billing", "crm", "erp", "service_item", "hourly_rate", "tasks"]
    static let billing = ["time_and_materials", "fixed_price", "milestone", "retainer"]

    let suffix: String
    let defaultBilling: String
    let crm: String?
    let erp: String?
    let serviceItem: String?
    let hourlyRate: String?
    let tasks: [String]

    static func validate(config: [UInt8]) -> [PluginDiagnostic] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(config)) as? [String: Any] else {
            return [PluginDiagnostic("config is not a JSON object")]
        }
        var problems: [PluginDiagnostic] = []
        for key in object.keys where !keys.contains(key) { problems.append(PluginDiagnostic("unknown field", fieldPath: key)) }
        for key in ["project_suffix", "crm", "erp", "service_item", "hourly_rate"] {
            if let value = object[key], !(value is String) { problems.append(PluginDiagnostic("must be a string", fieldPath: key)) }
        }
        if let billing = object["default_billing"], !Self.billing.contains(billing as? String ?? "") {
            problems.append(PluginDiagnostic("must be time_and_materials, fixed_price, milestone or retainer", fieldPath: "default_billing"))
        }
        if let rate = object["hourly_rate"] as? String, Double(rate) == nil {
            problems.append(PluginDiagnostic("must be a decimal number, e.g. \"150\"", fieldPath: "hourly_rate"))
        }
        if let tasks = object["tasks"], !(tasks is [String]) { problems.append(PluginDiagnostic("must be a list of task names", fieldPath: "tasks")) }
        if (object["crm"] == nil) != (object["erp"] == nil) {
            problems.append(PluginDiagnostic("the accelerator needs both crm and erp connections", fieldPath: object["crm"] == nil ? "crm" : "erp"))
        }
        return problems
    }

    init(config: [UInt8], host: HostCall) throws {
        let object = (try? JSONSerialization.jsonObject(with: Data(config)) as? [String: Any]) ?? [:]
        suffix = object["project_suffix"] as? String ?? "delivery"
        defaultBilling = object["default_billing"] as? String ?? "time_and_materials"
        crm = object["crm"] as? String
        erp = object["erp"] as? String
        serviceItem = object["service_item"] as? String
        hourlyRate = object["hourly_rate"] as? String
        tasks = object["tasks"] as? [String] ?? ["Discovery", "Delivery"]
    }

    func onEvent(type: String, event: [UInt8], host: HostCall) throws {
        guard let record = try JSONSerialization.jsonObject(with: Data(event)) as? [String: Any] else {
            throw PluginError.fatal("event is not a JSON object")
        }
        guard let crm, let erp else { return try shapeProject(type: type, deal: record, host: host) }
        let commands: [[String: Any]]
        switch type {
        case "opportunity.won": commands = try wonDeal(record, crm: crm, erp: erp)
        case "project.created": commands = projectReference(record, crm: crm)
        case "time.approved": commands = invoiceTime(record, erp: erp)
        case "invoice.posted": commands = invoiceReference(record, crm: crm)
        case "payment.received": commands = paymentReference(record, crm: crm)
        default: commands = [["skip": "o2c does not handle \(type)"]]
        }
        for command in commands {
            try host.emitCommand(json: Array(try JSONSerialization.data(withJSONObject: command, options: [.sortedKeys])))
        }
        host.count("o2c_\(type.replacingOccurrences(of: ".", with: "_"))")
    }

    // MARK: accelerator mode

    /// Customer first (the project needs it), then the project with its tasks and budget.
    func wonDeal(_ deal: [String: Any], crm: String, erp: String) throws -> [[String: Any]] {
        let custom = deal["custom"] as? [String: Any] ?? [:]
        guard let id = deal["external_id"] as? String, let name = deal["name"] as? String, let accountID = deal["account"] as? String else {
            throw PluginError.fatal("won deal lacks external_id, name or account", fieldPath: "account")
        }
        guard let account = custom["account"] as? [String: Any], let accountName = account["name"] as? String, !accountName.isEmpty else {
            throw PluginError.fatal("won deal carries no account name (custom.account.name) to open the customer with", fieldPath: "custom.account.name")
        }
        let source = deal["source"] as? String ?? crm
        var customer = account
        customer["external_id"] = accountID
        customer["source"] = source
        customer["updated_at"] = deal["updated_at"] as? String ?? ""
        var projectCustom: [String: Any] = ["tasks": tasks]
        if let item = custom["service_item"] as? String ?? serviceItem { projectCustom["service_item"] = item }
        if let hourlyRate { projectCustom["rate"] = hourlyRate }
        var project: [String: Any] = [
            "external_id": id, "source": source, "updated_at": deal["updated_at"] as? String ?? "",
            "name": "\(name) \(suffix)", "account": accountID, "opportunity": id, "status": "planned",
            "billing_method": custom["billing_method"] as? String ?? defaultBilling, "custom": projectCustom,
        ]
        if let amount = deal["amount"] { project["budget"] = amount }
        if let close = deal["close_date"] as? String { project["start_date"] = close }
        return [
            ["write": ["connection": erp, "entity": "Account", "key": "customer", "record": customer]],
            ["write": ["connection": erp, "entity": "Project", "key": "project", "record": project]],
        ]
    }

    /// A partial Opportunity for the deal the record came from, with custom fields to set.
    func dealUpdate(_ record: [String: Any], crm: String, key: String, fields: [String: Any]) -> [[String: Any]] {
        let custom = record["custom"] as? [String: Any] ?? [:]
        guard let deal = (record["opportunity"] as? String) ?? (custom["opportunity"] as? String), !deal.isEmpty else {
            return [["skip": "not linked to a deal"]]
        }
        let update: [String: Any] = ["external_id": deal, "source": crm, "updated_at": record["updated_at"] as? String ?? "", "custom": fields]
        return [["write": ["connection": crm, "entity": "Opportunity", "key": key, "partial": true, "record": update]]]
    }

    func projectReference(_ project: [String: Any], crm: String) -> [[String: Any]] {
        let reference = "\(project["name"] as? String ?? "") (#\(project["external_id"] as? String ?? ""))"
        return dealUpdate(project, crm: crm, key: "project-ref", fields: ["sb_project": reference])
    }

    func invoiceTime(_ entry: [String: Any], erp: String) -> [[String: Any]] {
        guard let id = entry["external_id"] as? String, let project = entry["project"] as? String else {
            return [["skip": "time entry without a project"]]
        }
        guard entry["billable"] as? Bool ?? false else { return [["skip": "time entry \(id) is not billable"]] }
        var line: [String: Any] = ["description": "\(entry["hours"] as? String ?? "?") h, \(entry["resource"] as? String ?? "")",
                                   "quantity": entry["hours"] as? String ?? "0", "time_entries": [id]]
        if let rate = entry["rate"] { line["unit_price"] = rate }
        var invoice: [String: Any] = ["project": project, "status": "posted", "lines": [line], "source": erp]
        if let amount = entry["billable_amount"] { invoice["total"] = amount }
        return [["write": ["connection": erp, "entity": "Invoice", "key": "invoice", "partial": true, "record": invoice]]]
    }

    func invoiceReference(_ invoice: [String: Any], crm: String) -> [[String: Any]] {
        let total = invoice["total"] as? [String: Any]
        return dealUpdate(invoice, crm: crm, key: "invoice-ref", fields: [
            "sb_invoice_number": invoice["number"] as? String ?? "", "sb_invoice_status": invoice["status"] as? String ?? "posted",
            "sb_invoice_total": "\(total?["amount"] as? String ?? "") \(total?["currency"] as? String ?? "")",
        ])
    }

    func paymentReference(_ payment: [String: Any], crm: String) -> [[String: Any]] {
        let amount = payment["amount"] as? [String: Any]
        let text = "\(amount?["amount"] as? String ?? "") \(amount?["currency"] as? String ?? "") received \(payment["received_on"] as? String ?? "")"
        return dealUpdate(payment, crm: crm, key: "payment-ref", fields: ["sb_payment": text])
    }

    // MARK: shaping mode (quickstart)

    func shapeProject(type: String, deal: [String: Any], host: HostCall) throws {
        guard type == "opportunity.won" else {
            try host.emitCommand(json: Array(#"{"skip":"o2c handles opportunity.won only"}"#.utf8))
            return
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
