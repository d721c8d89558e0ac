import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Reads the record behind a stored event again from its source (the source connector's ABI 1.1 `fetch`), so a
/// replay uses the source's current data: a record fixed at its source fixes the item (docs/RUNTIME.md).
struct SourceReread {
    let store: any IntegrationStore
    let connections: ConnectionRegistry
    let ingestor: Ingestor

    enum Outcome {
        /// The source holds a newer version: it is in the event log now (its work queued) and replaces the item's event.
        case replaced(String)
        /// The source holds what the stored event already carries.
        case unchanged
        /// The source no longer makes this event (the record changed stage, or is gone).
        case gone(String)
        /// The source cannot re-read (no such connection, no `fetch`), or the read failed.
        case unavailable([Diagnostic])
    }

    /// Whether `event`'s source can be re-read at all.
    func canReread(_ event: StoredEvent) -> Bool {
        connections.connection(tenant: event.tenant, id: event.source)?.plugin.has(.fetch) == true
    }

    func reread(_ event: StoredEvent) -> Outcome {
        guard let connection = connections.connection(tenant: event.tenant, id: event.source), connection.plugin.has(.fetch) else {
            return .unavailable([Diagnostic("connection \(event.source) cannot re-read records (its plugin does not declare fetch, ABI 1.1)")])
        }
        let isRecord = Ingestor.isRecordChange(event.type)
        let kind: EmitKind = isRecord ? .record : .event
        let key = isRecord ? event.entity : event.type
        var found: [UInt8]?
        var emitted: [String] = []
        let outcome = connection.instance.fetch(entity: event.entity, externalID: event.externalID, eventType: isRecord ? "" : event.type,
                                                deadline: Clock.monotonicNanoseconds() + 30_000_000_000,
                                                labels: ["tenant": event.tenant, "connection": event.source]) { item in
            if item.kind == kind && item.keyString == key && found == nil { found = item.dataBytes }
            emitted.append("\(item.kind) \(item.keyString)")
            return .ok
        }
        guard outcome.isOK else {
            return .unavailable(outcome.diagnostics.isEmpty ? [Diagnostic("re-reading from \(event.source) failed: \(outcome.status)")]
                                                            : outcome.diagnostics)
        }
        guard let found else {
            return .gone(emitted.isEmpty ? "\(event.source) no longer has \(event.entity) \(event.externalID)"
                                         : "\(event.source) now reports \(event.entity) \(event.externalID) as \(emitted.joined(separator: ", ")), not \(key)")
        }
        var batch = IngestBatch()
        switch ingestor.convert(tenant: event.tenant, source: event.source, kind: kind, key: key, data: found) {
        case .echo:
            return .unchanged
        case .event(let fresh, let seen):
            if fresh.dedupeKey == event.dedupeKey { return .unchanged }
            batch.events = [fresh]
            if let seen { batch.seen = [seen] }
        case .rejected(let record):
            batch.rejected = [record]   // the newer version is itself invalid: it becomes an item of its own, never dropped
        }
        do {
            let stored = try store.ingest(batch, now: Clock.nowMillis())
            if stored.rejected > 0 { return .replaced("re-read from \(event.source): the newer version was rejected (see its own item)") }
            return .replaced("re-read from \(event.source): a newer version replaces event \(event.id)"
                             + (stored.duplicates > 0 ? " (already in the log)" : ""))
        } catch {
            return .unavailable([Diagnostic("cannot store the re-read record: \(error)")])
        }
    }
}
