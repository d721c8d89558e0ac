// BottleCRM deals and accounts to canonical records. A deal's record is built
// only from what the CRM holds (never from the delivery that announced it) and
// leaves out our own write-back fields (sb_*), so the same deal always yields
// the same bytes, however it was noticed.
import Foundation
import SwitchboardPluginKit

struct BottleCRMMapper {
    let api: BottleCRMAPI

    struct Deal {
        var stage: String
        var json: [UInt8]
    }

    /// The deal as a canonical Opportunity; nil when the CRM no longer has it.
    func opportunity(id: String) throws -> Deal? {
        guard let detail = try api.getIfExists("/api/opportunities/\(id)/") else { return nil }
        guard let deal = detail["opportunity_obj"] as? [String: Any] else {
            throw PluginError.retry("BottleCRM sent a deal without opportunity_obj")
        }
        return try opportunity(deal)
    }

    func opportunity(_ deal: [String: Any]) throws -> Deal {
        let id = BottleCRMConnector.string(deal["id"]) ?? ""
        let stage = Self.stage(code: deal["stage"] as? String, kind: deal["stage_kind"] as? String)
        var record: [String: Any] = [
            "external_id": id, "name": deal["name"] as? String ?? "", "stage": stage,
            "updated_at": deal["stage_changed_at"] as? String ?? deal["created_at"] as? String ?? "",
        ]
        var custom: [String: Any] = ["crm_stage": deal["stage"] as? String ?? ""]
        if let account = deal["account"] as? [String: Any], let accountID = BottleCRMConnector.string(account["id"]) {
            record["account"] = accountID
            custom["account"] = try accountSummary(id: accountID)
        }
        if let amount = deal["amount"] as? String, let currency = deal["currency"] as? String {
            record["amount"] = ["amount": amount, "currency": currency]
        }
        if let closed = deal["closed_on"] as? String { record["close_date"] = closed }
        if let probability = deal["probability"] as? Int { record["probability"] = probability }
        for (key, value) in deal["custom_fields"] as? [String: Any] ?? [:] where !key.hasPrefix("sb_") { custom[key] = value }
        record["custom"] = custom
        return Deal(stage: stage, json: Array(try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])))
    }

    /// What the ERP needs to open a customer: name and billing address.
    func accountSummary(id: String) throws -> [String: Any] {
        let account = try api.get("/api/accounts/\(id)/")["account_obj"] as? [String: Any] ?? [:]
        return Self.canonicalAccount(account, id: id)
    }

    /// The account as a canonical Account record (JSON bytes).
    func account(id: String) throws -> [UInt8] {
        let account = try api.get("/api/accounts/\(id)/")["account_obj"] as? [String: Any] ?? [:]
        var record = Self.canonicalAccount(account, id: id)
        record["external_id"] = id
        record["updated_at"] = account["updated_at"] as? String ?? account["created_at"] as? String ?? ""
        return Array(try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]))
    }

    /// The contact as a canonical Contact record (JSON bytes); its account is the primary one, else the first linked.
    func contact(id: String) throws -> [UInt8] {
        let contact = try api.get("/api/contacts/\(id)/")["contact_obj"] as? [String: Any] ?? [:]
        var record: [String: Any] = [
            "external_id": id, "last_name": contact["last_name"] as? String ?? "",
            "updated_at": contact["updated_at"] as? String ?? contact["created_at"] as? String ?? "",
        ]
        for key in ["first_name", "email", "phone", "title"] {
            if let value = contact[key] as? String, !value.isEmpty { record[key] = value }
        }
        let account = (contact["account_detail"] as? [String: Any]) ?? (contact["linked_accounts"] as? [[String: Any]])?.first
        if let accountID = account.flatMap({ BottleCRMConnector.string($0["id"]) }) { record["account"] = accountID }
        return Array(try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]))
    }

    static func canonicalAccount(_ account: [String: Any], id: String) -> [String: Any] {
        var summary: [String: Any] = ["name": account["name"] as? String ?? ""]
        var address: [String: Any] = [:]
        for (crm, canonical) in [("address_line", "street"), ("city", "city"), ("postcode", "postal_code"), ("country", "country")] {
            if let value = account[crm] as? String, !value.isEmpty { address[canonical] = value }
        }
        if !address.isEmpty { summary["billing_address"] = address }
        if let email = account["email"] as? String, !email.isEmpty { summary["email"] = email }
        if let website = account["website"] as? String, !website.isEmpty { summary["website"] = website }
        return summary
    }

    /// BottleCRM stage codes to the canonical stages; the stage's kind decides won and lost.
    static func stage(code: String?, kind: String?) -> String {
        if kind == "won" { return "won" }
        if kind == "lost" { return "lost" }
        switch code?.uppercased() {
        case "QUALIFICATION": return "qualification"
        case "PROPOSAL", "PROPOSAL_SENT": return "proposal"
        case "NEGOTIATION": return "negotiation"
        default: return "prospecting"
        }
    }
}
