// BottleCRM's REST API through host egress. The host injects the personal
// access token (`egress.auth: {type: bearer, token: vault:...}`); the
// connector never sees it. Statuses are classified for the host's retry queue.
import Foundation
import SwitchboardPluginKit

struct BottleCRMAPI {
    let baseURL: String
    let host: HostCall

    func get(_ path: String) throws -> [String: Any] { try send("GET", path, body: nil) }

    /// GET, or nil when the CRM has no such record (404): e.g. a deal deleted since it was announced.
    func getIfExists(_ path: String) throws -> [String: Any]? { try send("GET", path, body: nil, missingIsNil: true) }

    func patch(_ path: String, _ body: [String: Any]) throws -> [String: Any] { try send("PATCH", path, body: body) }

    func post(_ path: String, _ body: [String: Any]) throws -> [String: Any] { try send("POST", path, body: body) }

    func send(_ method: String, _ path: String, body: [String: Any]?) throws -> [String: Any] {
        // Without missingIsNil a 404 throws, so there is always a document.
        try send(method, path, body: body, missingIsNil: false) ?? [:]
    }

    func send(_ method: String, _ path: String, body: [String: Any]?, missingIsNil: Bool) throws -> [String: Any]? {
        let bytes = try body.map { Array(try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])) } ?? []
        let response = try host.http(method: method, url: baseURL + path,
                                     headers: [("Accept", "application/json"), ("Content-Type", "application/json")], body: bytes)
        switch response.status {
        case 200...299:
            if response.body.isEmpty { return [:] }
            // A proxy's error page or a cut-off answer is not "nothing": found by `plugin test`'s malformed-answer check.
            guard let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] else {
                throw PluginError.retry("BottleCRM answered \(method) \(path) with a body that is not a JSON object (HTTP \(response.status), \(response.body.count) bytes)")
            }
            return object
        case 401, 403:
            throw PluginError.auth("BottleCRM refused the access token (HTTP \(response.status) on \(method) \(path))")
        case 404 where missingIsNil:
            return nil
        case 404:
            throw PluginError.fatal("BottleCRM has no \(path) (HTTP 404)", fieldPath: "external_id")
        case 408, 429, 500...599:
            throw PluginError.retry("BottleCRM answered HTTP \(response.status) to \(method) \(path)")
        default:
            // A 400 names the fields it refused: keep that for the person fixing it.
            let detail = String(decoding: response.body.prefix(600), as: UTF8.self)
            throw PluginError.fatal("BottleCRM refused \(method) \(path) (HTTP \(response.status))", detail: detail)
        }
    }
}
