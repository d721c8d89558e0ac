// tryton: Tryton 8.2 as the PSA (projects, tasks, timesheets) and the ERP
// (customers, invoices, payments), over JSON-RPC through host egress. The
// connector logs in itself (the password comes from the vault as a raw secret)
// and keeps the session; a restarted Tryton costs one login, not an error.
//
// Reads are incremental on `last_modified_at` (write date, else create date)
// with the id as tie-break. Writes are upserts on a natural key stored in
// Tryton itself, so a retry after a crash finds what the first attempt made:
// a customer's party code is `SOURCE/EXTERNAL_ID`, a project's comment carries
// `opportunity: SOURCE/ID`, and an invoice is found from its time entries.
import Foundation
import SwitchboardPluginKit

final class TrytonConnector: ConnectorPlugin {
    static let manifest = PluginManifest(
        id: "tryton", version: "1.0.0", kind: .connector,
        capabilities: [.check, .discover, .read, .write, .hostEgress, .rawSecrets],
        name: "Tryton", description: "Tryton 8.2 PSA and ERP: customers, projects, timesheets, invoices, payments (JSON-RPC)",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "required":["url","database","user"],
         "properties":{"url":{"type":"string","description":"Tryton's base URL, e.g. http://127.0.0.1:8000"},
                       "database":{"type":"string","minLength":1},
                       "user":{"type":"string","minLength":1,"description":"Login; its password is the secret named password"},
                       "service_product":{"type":"string","description":"Product code billed for project time unless the record names one (default CONSULT-HR)"},
                       "hourly_rate":{"type":"string","pattern":"^[0-9]+(\\\\.[0-9]+)?$","description":"Default hourly list price (default 150)"},
                       "currency":{"type":"string","minLength":3,"maxLength":3,"description":"Currency of amounts read (default EUR)"}}}
        """

    struct Config {
        var url: String
        var database: String
        var user: String
        var serviceProduct = "CONSULT-HR"
        var hourlyRate = "150"
        var currency = "EUR"
    }

    static func parse(_ bytes: [UInt8]) -> (Config?, [PluginDiagnostic]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return (nil, [PluginDiagnostic("config is not a JSON object")])
        }
        var problems: [PluginDiagnostic] = []
        let known = ["url", "database", "user", "service_product", "hourly_rate", "currency"]
        for key in object.keys where !known.contains(key) { problems.append(PluginDiagnostic("unknown field", fieldPath: key)) }
        func text(_ key: String, required: Bool) -> String? {
            guard let value = object[key] else {
                if required { problems.append(PluginDiagnostic("required", fieldPath: key)) }
                return nil
            }
            guard let string = value as? String, !string.isEmpty else {
                problems.append(PluginDiagnostic("must be a non-empty string", fieldPath: key))
                return nil
            }
            return string
        }
        let url = text("url", required: true)
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            problems.append(PluginDiagnostic("must start with http:// or https://", fieldPath: "url"))
        }
        let database = text("database", required: true), user = text("user", required: true)
        var config = Config(url: url ?? "", database: database ?? "", user: user ?? "")
        if let product = text("service_product", required: false) { config.serviceProduct = product }
        if let rate = text("hourly_rate", required: false) {
            if Double(rate) == nil || rate.contains("e") { problems.append(PluginDiagnostic("must be a decimal number, e.g. \"150\"", fieldPath: "hourly_rate")) }
            config.hourlyRate = rate
        }
        if let currency = text("currency", required: false) {
            if currency.count != 3 { problems.append(PluginDiagnostic("must be an ISO 4217 code, e.g. EUR", fieldPath: "currency")) }
            config.currency = currency
        }
        return problems.isEmpty ? (config, []) : (nil, problems)
    }

    static func validate(config: [UInt8]) -> [PluginDiagnostic] { parse(config).1 }

    let config: Config
    let tryton: TrytonSession

    init(config: [UInt8], host: HostCall) throws {
        let parsed = try configOrThrow(Self.parse(config))
        self.config = parsed
        tryton = TrytonSession(url: parsed.url, database: parsed.database, user: parsed.user)
    }

    func checkConnection(host: HostCall) throws {
        tryton.reset()   // a real login, not a cached session
        _ = try tryton.model("company.company", "search", [[Any](), 0, 1, NSNull()], host: host)
    }

    func discover(host: HostCall) throws -> String {
        """
        {"streams":[{"name":"parties","entity":"Account","cursor":"last_modified_at"},
                    {"name":"projects","entity":"Project","events":["project.created"],"cursor":"last_modified_at"},
                    {"name":"timesheets","entity":"TimeEntry","events":["time.approved"],"cursor":"last_modified_at"},
                    {"name":"invoices","entity":"Invoice","events":["invoice.posted","payment.received"],"cursor":"last_modified_at"}],
         "writes":["Account","Project","Invoice"]}
        """
    }

    // MARK: - Reads

    func read(_ request: ReadRequest, host: HostCall) throws {
        let reader = TrytonReader(tryton: tryton, config: config, host: host)
        switch request.stream {
        case "parties": try reader.parties(request)
        case "projects": try reader.projects(request)
        case "timesheets": try reader.timesheets(request)
        case "invoices": try reader.invoices(request)
        default: throw PluginError.config("unknown stream \(request.stream) (parties, projects, timesheets, invoices)", fieldPath: "stream")
        }
    }

    // MARK: - Writes

    func write(_ request: WriteRequest, host: HostCall) throws -> String {
        guard let record = try? JSONSerialization.jsonObject(with: Data(request.record)) as? [String: Any] else {
            throw PluginError.fatal("the record is not a JSON object")
        }
        let writer = TrytonWriter(tryton: tryton, config: config, host: host)
        switch request.entity {
        case "Account": return try writer.upsertParty(record, knownID: request.externalID)
        case "Project": return try writer.upsertProject(record, knownID: request.externalID)
        case "Invoice": return try writer.invoiceTime(record)
        default: throw PluginError.config("the tryton connector writes Account, Project and Invoice, not \(request.entity)", fieldPath: "entity")
        }
    }
}

@_cdecl("switchboard_plugin_manifest")
public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(TrytonConnector.self) }

@_cdecl("switchboard_plugin_init")
public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
    PluginExport.initialize(TrytonConnector.self, args, result)
}
