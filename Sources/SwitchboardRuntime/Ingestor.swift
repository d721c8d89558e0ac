import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Turns what a connector emits (records, events) into validated event-log
/// entries. An invalid record becomes an exception item, never nothing; a
/// record that only echoes what Switchboard itself wrote is suppressed.
struct Ingestor: Sendable {
    let store: any IntegrationStore
    let router: WorkflowRouter
    var recentWrites: RecentWrites? = nil

    enum Result {
        case event(NewEvent, seen: XrefKey?)
        case rejected(RejectedRecord)
        /// Unchanged since last seen (typically our own write coming back).
        case echo
    }

    /// The event type of a change of a record of `entity`: `record.ENTITY`.
    static func recordType(_ entity: String) -> String { recordPrefix + entity }

    /// True for a record change (`record.ENTITY`), as opposed to a business event (`opportunity.won`).
    static func isRecordChange(_ type: String) -> Bool { type.hasPrefix(recordPrefix) }

    /// The entity of a record change's type (`record.Account` -> `Account`); nil for a business event.
    static func recordEntity(_ type: String) -> String? { isRecordChange(type) ? String(type.dropFirst(recordPrefix.count)) : nil }

    private static let recordPrefix = "record."

    /// An event's dedupe key: whose, from where, what and which, plus a fingerprint of its content
    /// (32 hex digits; for master data, of its business content), so a redelivery is recognised by it.
    static func dedupeKey(tenant: String, source: String, type: String, externalID: String, fingerprint: [UInt8]) -> String {
        "\(tenant)|\(source)|\(type)|\(externalID)|\(Hashing.hex(fingerprint).prefix(32))"
    }

    /// The content fingerprint a dedupe key made by `dedupeKey` ends with: which version of a record an event carries.
    static func version(ofDedupeKey key: String) -> Substring {
        key[key.index(after: key.lastIndex(of: "|") ?? key.startIndex)...]
    }

    /// Converts one emitted item. `kind` is `.record` (key = entity) or `.event` (key = event type).
    func convert(tenant: String, source: String, kind: EmitKind, key: String, data: [UInt8]) -> Result {
        let isEvent = kind == .event
        let type = isEvent ? key : Self.recordType(key)
        let entity = isEvent ? (CanonicalModel.event(key)?.entity ?? key) : key
        func reject(_ reason: String, _ problems: [Diagnostic], externalID: String = "", record: JSON? = nil) -> Result {
            let impact = record.flatMap { CanonicalValidator.impact(of: $0, entity: entity) }
            return .rejected(RejectedRecord(tenant: tenant, source: source, type: type, entity: entity, externalID: externalID,
                                            payload: data, reason: reason, diagnostics: problems, amount: impact?.amount,
                                            currency: impact?.currency))
        }
        var record: JSON
        do {
            record = try JSON.parse(data)
        } catch {
            return reject("invalid_json", [Diagnostic("\(source) sent a \(type) that is not JSON: \(error)")])
        }
        // The host, not the plugin, says whose record it is.
        let envelopeAbsent = record.objectValue != nil && record["tenant"] == nil && record["source"] == nil
        record.set("tenant", .string(tenant))
        record.set("source", .string(source))
        let externalID = record["external_id"]?.stringValue ?? ""
        let problems = isEvent ? CanonicalValidator.validate(event: record, type: key)
            : CanonicalValidator.validate(record: record, entity: entity)
        guard problems.isEmpty else { return reject("schema_invalid", problems, externalID: externalID, record: record) }

        var seen: XrefKey?
        var meta: String?
        // Redeliveries are recognised by their bytes; master data by its business content (an updated_at alone is no change).
        var fingerprint = data
        if !isEvent && router.tracksContent(tenant: tenant, entity: entity, connection: source) {
            let content = Self.content(of: record)
            let stored = try? store.xref(tenant: tenant, entity: entity, connection: source, externalID: externalID)
            // Our own write may show up here before its outcome (and xref) is committed.
            let known = recentWrites?.lookup(tenant: tenant, entity: entity, connection: source, externalID: externalID) ?? stored
            // A change is a transition at a time: from what was known to this content, as of the record's updated_at. A
            // repeated read of one change is one event; a value that comes back (A, B, then A again; or the same edit
            // made again after it was undone) is a new change, not a repeat. (An updated_at alone is an echo, above.)
            fingerprint = content.bytes + Array("|".utf8) + (known?.content ?? []) + Array("|\(record["updated_at"]?.stringValue ?? "")".utf8)
            let previous = known?.content.flatMap { try? JSON.parse($0) }
            let changed = Self.changedFields(content, since: previous)
            if known != nil && changed.isEmpty { return .echo }
            // `first`: nothing was known of this record here, so every field counts as changed but none was edited.
            meta = JSON.object([("changed", .array(changed.map { .string($0) }))] + (previous == nil ? [("first", .bool(true))] : [])).text
            seen = XrefKey(tenant: tenant, entity: entity, canonicalID: known?.canonicalID ?? CanonicalID.make(entity: entity, source: source, externalID: externalID),
                           connection: source, externalID: externalID, content: content.bytes)
        }
        let impact = CanonicalValidator.impact(of: record, entity: entity)
        let payload = envelopeAbsent ? Self.appendingEnvelope(to: data, tenant: tenant, source: source) : record.bytes
        let event = NewEvent(tenant: tenant, source: source, type: type, entity: entity, externalID: externalID,
                             dedupeKey: Self.dedupeKey(tenant: tenant, source: source, type: type, externalID: externalID, fingerprint: fingerprint),
                             payload: payload, amount: impact?.amount, currency: impact?.currency,
                             workflows: router.workflows(tenant: tenant, type: type, source: source), meta: meta)
        return .event(event, seen: seen)
    }

    /// The record as received with `tenant` and `source` added as its last members: what serialising the parsed record
    /// with them set gives, without writing every other member again (that was about a sixth of ingest's CPU).
    /// `data` is a JSON object that parsed and holds neither member.
    static func appendingEnvelope(to data: [UInt8], tenant: String, source: String) -> [UInt8] {
        appendingEnvelope(to: data[...], tenant: tenant, source: source)
    }

    /// The same for an object's text inside a larger buffer (a workflow plugin's command).
    static func appendingEnvelope(to data: ArraySlice<UInt8>, tenant: String, source: String) -> [UInt8] {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
        var close = data.endIndex - 1
        while close > data.startIndex && isSpace(data[close]) { close -= 1 }
        var last = close - 1
        while last > data.startIndex && isSpace(data[last]) { last -= 1 }
        var out = [UInt8]()
        out.reserveCapacity(data.count + tenant.utf8.count + source.utf8.count + 32)
        out.append(contentsOf: data[..<close])
        out.append(contentsOf: (data[last] == UInt8(ascii: "{") ? "" : ",").utf8)
        out.append(contentsOf: #""tenant":"#.utf8)
        JSON.writeString(tenant, into: &out)
        out.append(contentsOf: #","source":"#.utf8)
        JSON.writeString(source, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A record's business content: every field but the envelope, keys sorted (stable for comparison).
    static func content(of record: JSON) -> JSON {
        let skip: Set<String> = ["tenant", "source", "external_id", "updated_at"]
        let members = (record.objectValue ?? []).filter { !skip.contains($0.0) }.sorted { $0.0 < $1.0 }
        return .object(members)
    }

    /// Fields whose value differs from the last known content (all fields when none is known).
    static func changedFields(_ content: JSON, since previous: JSON?) -> [String] {
        guard let members = content.objectValue else { return [] }
        guard let previous else { return members.map(\.0) }
        var changed = members.filter { previous[$0.0] != $0.1 }.map(\.0)
        for (key, _) in previous.objectValue ?? [] where content[key] == nil { changed.append(key) }
        return changed
    }
}
