import SwitchboardCore

/// Which workflows an event starts: by tenant, event type and source connection.
struct WorkflowRouter: Sendable {
    /// By tenant, then event type (two lookups: no key text is built per event).
    private var routes: [String: [String: [(workflow: String, source: String?)]]] = [:]
    private var masterGroups: [String: [MasterDataConfig]] = [:]  // tenant

    init(config: SwitchboardConfig) {
        for tenant in config.tenants {
            for w in tenant.workflows {
                guard case .event(let type, let source) = w.trigger else { continue }
                routes[tenant.id, default: [:]][type, default: []].append((w.id, source))
            }
            masterGroups[tenant.id] = tenant.masterData
        }
    }

    func workflows(tenant: String, type: String, source: String) -> [String] {
        var out: [String] = []
        for route in routes[tenant]?[type] ?? [] where route.source == nil || route.source == source { out.append(route.workflow) }
        if let entity = Ingestor.recordEntity(type) {
            for group in masterGroups[tenant] ?? [] where group.entity == entity && group.connections.contains(source) {
                out.append(group.workflowID)
            }
        }
        return out
    }

    /// True when changes of `entity` at `connection` are master data: they are
    /// compared with the last known content (echo suppression) and that content is kept in the xref.
    func tracksContent(tenant: String, entity: String, connection: String) -> Bool {
        (masterGroups[tenant] ?? []).contains { $0.entity == entity && $0.connections.contains(connection) }
    }

    func masterGroup(tenant: String, workflow: String) -> MasterDataConfig? {
        masterGroups[tenant]?.first { $0.workflowID == workflow }
    }
}
