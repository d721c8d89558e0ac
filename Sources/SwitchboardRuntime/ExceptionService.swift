import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Operator actions on the exception queue. Every action is audited with its
/// actor and reason. Retrying a rejected record re-validates it against the
/// current configuration and model; it enters the flow only if it now passes.
public struct ExceptionService: Sendable {
    public let store: any IntegrationStore
    public let config: SwitchboardConfig

    public init(store: any IntegrationStore, config: SwitchboardConfig) {
        self.store = store
        self.config = config
    }

    public struct RetryReport: Sendable {
        public var retried: [Int64] = []
        /// Items that still fail, with why (they stay open).
        public var stillFailing: [(id: Int64, diagnostics: [Diagnostic])] = []
    }

    public func retry(ids: [Int64], actor: String, reason: String) throws -> RetryReport {
        var report = RetryReport()
        let router = Router(config: config)
        let ingestor = Ingestor(store: store, router: router)
        for id in ids {
            guard let item = try store.exception(id: id) else { throw StoreError("no exception item \(id)") }
            guard item.status == "open" else { throw StoreError("exception item \(id) is already \(item.status)") }
            if item.workID != nil {
                _ = try store.retryExceptions(ids: [id], actor: actor, reason: reason, now: Clock.nowMillis())
                report.retried.append(id)
                continue
            }
            // A rejected record: validate it again and, if it passes now, ingest it.
            guard let eventID = item.eventID, let event = try store.event(id: eventID) else {
                report.stillFailing.append((id, [Diagnostic("the rejected record is no longer stored")]))
                continue
            }
            let kind: EmitKind = Ingestor.isRecordChange(event.type) ? .record : .event
            let key = kind == .record ? event.entity : event.type
            switch ingestor.convert(tenant: event.tenant, source: event.source, kind: kind, key: key, data: event.payload) {
            case .event(let newEvent, let seen):
                var batch = IngestBatch(events: [newEvent])
                if let seen { batch.seen = [seen] }
                _ = try store.ingest(batch, now: Clock.nowMillis())
                _ = try store.retryExceptions(ids: [id], actor: actor, reason: reason, now: Clock.nowMillis())
                report.retried.append(id)
            case .echo:
                _ = try store.retryExceptions(ids: [id], actor: actor, reason: reason + " (already applied)", now: Clock.nowMillis())
                report.retried.append(id)
            case .rejected(let again):
                report.stillFailing.append((id, again.diagnostics))
            }
        }
        return report
    }
}
