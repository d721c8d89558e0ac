// Polling fallback: BottleCRM has no "changed since" filter on its lists, but
// its activity feed lists creates and updates, newest first (at most 50). The
// cursor is the newest activity handled. When all 50 entries are newer than
// the cursor, changes may have been missed between polls: then the whole list
// is scanned (the host's event log drops what it has seen already).
import Foundation
import SwitchboardPluginKit

struct ActivityPoller {
    let api: BottleCRMAPI
    let host: HostCall
    let stream: String
    let entityType: String
    let initialAll: Bool
    static let feedLimit = 50

    struct Cursor {
        var at: String?
        var seen: [String] = []

        var json: [UInt8] {
            let object: [String: Any] = ["at": at.map { $0 as Any } ?? NSNull(), "seen": seen]
            return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        }
    }

    /// Activity timestamps with microseconds always written, so they order as text.
    static func normalized(_ timestamp: String) -> String {
        guard timestamp.hasSuffix("Z"), !timestamp.contains(".") else { return timestamp }
        return String(timestamp.dropLast()) + ".000000Z"
    }

    func poll(state: [UInt8]) throws {
        var cursor = Cursor()
        if !state.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(state)) as? [String: Any] else {
                throw PluginError.fatal("saved cursor is not {\"at\", \"seen\"}", fieldPath: "state")
            }
            cursor = Cursor(at: object["at"] as? String, seen: object["seen"] as? [String] ?? [])
        }
        let feed = try api.get("/api/activities/?entity_type=\(entityType)&limit=\(Self.feedLimit)")["activities"] as? [[String: Any]] ?? []
        let entries = feed.compactMap { entry -> (id: String, at: String, entity: String)? in
            guard let id = BottleCRMConnector.string(entry["id"]), let at = entry["timestamp"] as? String,
                  let entity = BottleCRMConnector.string(entry["entity_id"]) else { return nil }
            return (id, Self.normalized(at), entity)
        }.sorted { ($0.at, $0.id) < ($1.at, $1.id) }
        let fresh = entries.filter { entry in
            guard let at = cursor.at, !at.isEmpty else { return true }
            return entry.at > at || (entry.at == at && !cursor.seen.contains(entry.id))
        }
        let mapper = BottleCRMMapper(api: api)
        let firstPoll = state.isEmpty
        if firstPoll && !initialAll {
            // initial_sync: now — start from the newest activity (or the very beginning of an empty feed), emit nothing.
        } else if firstPoll || (fresh.count == entries.count && entries.count == Self.feedLimit) {
            if !firstPoll { host.log(.warning, "more than \(Self.feedLimit) \(entityType) changes since the last poll: scanning all") }
            try scanAll(mapper)
        } else {
            var done = Set<String>()
            for entry in fresh where done.insert(entry.entity).inserted {
                try emit(entity: entry.entity, mapper)
            }
        }
        if let newest = entries.last {
            cursor.at = newest.at
            cursor.seen = entries.filter { $0.at == newest.at }.map(\.id)
        } else if cursor.at == nil {
            cursor.at = ""   // polled, nothing yet: every later activity is new (nil would mean "never polled")
        }
        try host.emitState(stream: stream, state: cursor.json)
    }

    func emit(entity id: String, _ mapper: BottleCRMMapper) throws {
        if entityType == "Opportunity" {
            if let deal = try mapper.opportunity(id: id), deal.stage == "won" {
                try host.emitEvent(type: "opportunity.won", json: deal.json)
            }
        } else if entityType == "Contact" {
            try host.emitRecord(entity: "Contact", json: try mapper.contact(id: id))
        } else {
            try host.emitRecord(entity: "Account", json: try mapper.account(id: id))
        }
    }

    /// Every deal (won ones become events) or every account, page by page.
    func scanAll(_ mapper: BottleCRMMapper) throws {
        let path = ["Opportunity": "/api/opportunities/", "Contact": "/api/contacts/"][entityType] ?? "/api/accounts/"
        var offset = 0
        while !host.isCancelled {
            let page = try api.get("\(path)?limit=100&offset=\(offset)")
            // Deals come as "opportunities", contacts as "results", accounts as "active_accounts": {"open_accounts": [...]}.
            let items = page["opportunities"] as? [[String: Any]] ?? page["results"] as? [[String: Any]]
                ?? (page["active_accounts"] as? [String: Any])?["open_accounts"] as? [[String: Any]] ?? []
            for item in items {
                if entityType == "Opportunity" {
                    guard (item["stage_kind"] as? String) == "won" else { continue }
                    let deal = try mapper.opportunity(item)
                    try host.emitEvent(type: "opportunity.won", json: deal.json)
                } else if let id = BottleCRMConnector.string(item["id"]) {
                    try emit(entity: id, mapper)
                }
            }
            guard items.count == 100 else { break }
            offset += 100
        }
    }
}
