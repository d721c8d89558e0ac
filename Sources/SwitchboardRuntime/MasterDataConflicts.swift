// System-of-record conflicts: a master-data change read from a connection
// that touches fields another connection owns (a customer renamed in the ERP
// while the CRM owns the name). Never skipped silently: per field, either the
// owner's value is written back where it was changed (`restore`, audited) or
// the item goes to the exception queue as a `conflict` showing both values
// (`raise`), for a person to decide. docs/RUNTIME.md, "Conflicts on owned fields".
import SwitchboardCore
import SwitchboardStore

extension WorkflowExecutor {
    /// One field two systems disagree on.
    struct Conflict {
        var field: String
        var owner: String
        var ownerValue: JSON?
        var sourceValue: JSON?
    }

    /// The fields of `record` (changed at `source`, listed in `changed`) that another connection owns and holds
    /// differently: a value the owner also holds is agreement, not a conflict, and a record the owner does not hold
    /// (not linked to it) has nothing to conflict with.
    func conflicts(_ changed: [String], group: MasterDataConfig, record: JSON, source: String, tenant: String,
                   externalID: String) -> [Conflict] {
        // `custom` is each system's own extension data, not a shared business field.
        let foreign = changed.filter { group.owner(of: $0) != source && !["tenant", "source", "external_id", "updated_at", "custom"].contains($0) }
        guard !foreign.isEmpty else { return [] }
        // The owners' last known content, from the xref (master data keeps it for every connection of the group).
        var owners: [String: JSON] = [:]
        var current: JSON?
        if let here = try? store.xref(tenant: tenant, entity: group.entity, connection: source, externalID: externalID),
           let links = try? store.xref(tenant: tenant, entity: group.entity, canonicalID: here.canonicalID) {
            current = here.content.flatMap { try? JSON.parse($0) }
            for link in links where link.connection != source {
                if let content = link.content.flatMap({ try? JSON.parse($0) }) { owners[link.connection] = content }
            }
        }
        return foreign.compactMap { field in
            // Stale: since this event, the source was written (a sync) or read again, and holds something else now;
            // the newer read decides.
            if let current, current[field] != record[field] { return nil }
            let owner = group.owner(of: field)
            // A field one side does not carry (its connector does not read it: Tryton keeps no e-mail on a party) is
            // not a disagreement: there is no owner's value to defend, or no value of the source's against it.
            guard let ownerValue = owners[owner]?[field], record[field] != nil else { return nil }
            if Self.agrees(record[field], with: ownerValue) { return nil }
            return Conflict(field: field, owner: owner, ownerValue: ownerValue, sourceValue: record[field])
        }
    }

    /// Restores what can be restored, then raises the rest as one `conflict` item. A field is restored once per
    /// value it replaces: if the same value comes back (the target keeps or normalises it), it is raised instead,
    /// so a system that will not take the owner's value cannot make a write loop.
    func handle(_ found: [Conflict], group: MasterDataConfig, item: ClaimedWork, tenant: TenantConfig, record: JSON,
                progress: inout Progress) throws {
        let source = item.event.source
        var raised: [(Conflict, String)] = []
        for conflict in found {
            guard group.policy(for: conflict.field) == .restore else {
                raised.append((conflict, "policy raise"))
                continue
            }
            guard let ownerValue = conflict.ownerValue else {
                raised.append((conflict, "the owner has no value to restore"))
                continue
            }
            let step = "conflict-restore|\(source)|\(conflict.field)|\(Self.fingerprint(conflict.sourceValue))"
            if progress.ledgerView.written(BatchLedger.key(tenant: tenant.id, step: step, event: item.event)) != nil {
                raised.append((conflict, "restored once already, and \(source) has it again"))
                continue
            }
            let started = Clock.monotonicNanoseconds()
            var update = JSON.object([])
            for field in ["tenant", "source", "external_id", "updated_at"] {
                if let value = record[field] { update = update.setting(field, value) }
            }
            update = update.setting(conflict.field, ownerValue)
            let id = try write(update, entity: group.entity, to: source, item: item, tenant: tenant, key: step, partial: true, progress: &progress)
            progress.steps.append(StepTiming(step: "restore \(group.entity).\(conflict.field) at \(source)",
                                             millis: Double(Clock.monotonicNanoseconds() - started) / 1e6, status: "OK",
                                             detail: "\(conflict.owner)'s value -> \(id)"))
            try? store.audit(actor: Runtime.ownActor, action: "masterdata.restore",
                             target: "\(tenant.id)/\(group.entity)/\(source)/\(item.event.externalID)",
                             detail: Redactor.redact("\(conflict.field): \(source) had \(Self.shown(conflict.sourceValue)); restored "
                                                     + "\(conflict.owner)'s \(Self.shown(ownerValue)) (system of record)"),
                             now: Clock.nowMillis())
        }
        guard !raised.isEmpty else { return }
        for (conflict, _) in raised {
            try? store.audit(actor: Runtime.ownActor, action: "masterdata.conflict",
                             target: "\(tenant.id)/\(group.entity)/\(source)/\(item.event.externalID)",
                             detail: Redactor.redact("\(conflict.field): \(conflict.owner) (system of record) has \(Self.shown(conflict.ownerValue)), "
                                                     + "\(source) has \(Self.shown(conflict.sourceValue)); raised as an exception item"),
                             now: Clock.nowMillis())
        }
        throw Failure(status: .fatal, reason: "conflict", connection: source, diagnostics: raised.map { conflict, why in
            Diagnostic("conflict on \(group.entity).\(conflict.field): \(conflict.owner) (system of record) has \(Self.shown(conflict.ownerValue)), "
                       + "\(source) has \(Self.shown(conflict.sourceValue))",
                       detail: "\(why); decide which is right, fix it in the other system, then discard or retry this item",
                       fieldPath: conflict.field)
        })
    }

    /// Whether the source's value says the same as the owner's. Objects compare by the members the source holds: a
    /// system that cannot keep a sub-field (an address without a country) does not disagree about it.
    static func agrees(_ source: JSON?, with owner: JSON?) -> Bool {
        guard let members = source?.objectValue, owner?.objectValue != nil else { return source == owner }
        return members.allSatisfy { key, value in agrees(value, with: owner?[key]) }
    }

    static func shown(_ value: JSON?) -> String { value.map { $0.text } ?? "nothing" }

    /// A short stable fingerprint of a value (FNV-1a, 64 bits): ledger keys stay short whatever the value.
    static func fingerprint(_ value: JSON?) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (value?.text ?? "null").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }
}
