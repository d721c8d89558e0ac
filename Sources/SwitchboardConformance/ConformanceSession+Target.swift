import Foundation
import SwitchboardCore
import SwitchboardEgress
import SwitchboardHost
import SwitchboardSandbox

/// The checks that need the target: writes verified by reading the target back, and the HTTP
/// error classes answered by the fixture server (docs/CONFORMANCE.md).
extension ConformanceSession {
    /// Starts the fixture's server (if it serves one) and the real host egress the plugin reaches it through.
    func startFixture(_ fixture: Fixture) -> Bool {
        do {
            let target = try FixtureTarget.start(fixture)
            server = target.server
            fixtureEgress = target.egress
            fixtureSecrets = target.secrets
            return true
        } catch {
            results.append(CheckResult(name: "fixture.server", status: .failed, summary: "\(error)"))
            return false
        }
    }

    /// The requests the fixture could not answer, for the report.
    func unmatchedRequests() -> [String] {
        guard let server else { return [] }
        let missed = server.unmatched
        if missed.isEmpty { return server.requestCount == 0 ? ["the plugin sent the fixture server no request"] : [] }
        return missed.prefix(5).map { "no fixture matched \($0.method) \($0.target) (answered 404)" }
    }

    /// Why a connector that talks HTTP failed without a fixture: the built-in egress answers `200 {}` to everything.
    func fixtureHint() -> [String] {
        guard options.fixture == nil, egress.requests > 0 else { return [] }
        return ["the plugin called host egress, which without a fixture answers 200 {} to every request: "
                + "a connector that talks HTTP needs a fixture (--fixture, docs/CONFORMANCE.md)"]
    }

    var writeEntity: String { options.fixture?.writeEntity ?? writes.first ?? streams.first?.entity ?? "Account" }

    /// How many records the target holds of the written entity: the fixture's collection, or (a test
    /// instance) the records the plugin's own read of that entity's stream returns. Nil: cannot tell.
    func targetRecords() -> [JSON]? {
        if let server, let path = options.fixture?.writeCollection { return server.records(path) }
        // Read back through the plugin only from a test instance: scripted pages never show a write.
        guard let fixture = options.fixture, !fixture.served, let plugin, let stream = streams.first(where: { $0.entity == writeEntity }) else { return nil }
        var state: [UInt8] = []
        var out: [JSON] = []
        for _ in 0..<1000 {
            var page: [JSON] = []
            var next: [UInt8]?
            let outcome = plugin.read(stream: stream.name, state: state, maxRecords: 100, deadline: deadline, labels: [:]) { item in
                if item.kind == .record, let r = try? JSON.parse(item.dataBytes) { page.append(r) }
                if item.kind == .state { next = item.dataBytes }
                return .ok
            }
            guard outcome.isOK else { return nil }
            out += page
            guard !page.isEmpty, let next else { break }
            state = next
        }
        return out
    }

    func write(_ record: [UInt8], key: String, externalID: String = "") -> (CallOutcome, String?) {
        let result = plugin!.write(entity: writeEntity, idempotencyKey: key, externalID: externalID, record: record, deadline: deadline,
                                   labels: [:], onResult: nil)
        _ = note("write", result.0)
        return result
    }

    func checkWrite(_ plugin: SandboxedPlugin) {
        let entity = writeEntity
        // A connector that only updates writes to a record the target has (the fixture's write.external_id).
        let existing = options.fixture?.writeExternalID
        let expectedNew = existing == nil ? 1 : 0
        let verifiable = targetRecords() != nil
        // A served collection has no other writer: its count must move exactly. A test instance may have others,
        // so there the run's records are told apart by a name no one else writes.
        let exactCounts = options.fixture?.served == true
        let nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let unverified = options.fixture == nil ? " (not read back: no fixture, docs/CONFORMANCE.md)"
            : options.fixture!.served ? " (not read back: the fixture names no write.collection)"
            : " (not read back: the plugin reads no \(entity) stream from the test instance)"
        func carrying(_ text: String, in records: [JSON]) -> [JSON] { records.filter { String(decoding: $0.bytes, as: UTF8.self).contains(text) } }
        check("write.idempotent") {
            guard var sample = sample(entity, externalID: existing ?? "conformance-\(options.seed)") else {
                return Finding(status: .skipped, summary: "no sample for \(entity)")
            }
            let marker = "Conformance \(options.seed) \(nonce)"
            let named = sample["name"] != nil
            if named { sample = sample.setting("name", .string(marker)) }
            let record = sample.bytes
            let key = "conformance-\(options.seed)-key-1"
            let before = targetRecords()
            let first = write(record, key: key, externalID: existing ?? "")
            guard first.0.isOK, let id1 = first.1 else {
                return Finding(status: .failed, summary: "writing a valid \(entity) failed: \(first.0.summary)", details: unmatchedRequests() + fixtureHint())
            }
            let again = write(record, key: key, externalID: existing ?? "")
            guard again.0.isOK, let id2 = again.1 else { return Finding(status: .failed, summary: "repeating the write failed: \(again.0.summary)") }
            if id1 != id2 {
                return Finding(status: .failed, summary: "the same idempotency key created two records: \(id1), then \(id2)",
                               details: ["a redelivered write must return the first record's id and create nothing"])
            }
            if let before, let after = targetRecords() {
                let added = after.count - before.count
                if exactCounts && added != expectedNew {
                    return Finding(status: .failed, summary: "the target holds \(added) new record(s) after two writes with one idempotency key, expected \(expectedNew)",
                                   details: added > expectedNew ? ["the plugin answered \(id1) both times, but created a record the target did not need"]
                                                                : ["the plugin answered \(id1) but no record reached the target"])
                }
                if named, carrying(marker, in: after).count != 1 {
                    return Finding(status: .failed, summary: "the target holds \(carrying(marker, in: after).count) records named \"\(marker)\" after two writes with one idempotency key, expected 1")
                }
                if !after.contains(where: { Self.mentions($0, id1) && (!named || String(decoding: $0.bytes, as: UTF8.self).contains(marker)) }) {
                    return Finding(status: .failed, summary: "the plugin answered id \(id1), but no record at the target has that id" + (named ? " and the name written" : ""),
                                   details: ["a write must report the target's id for the record (SB_EMIT_WRITE_RESULT)"])
                }
            }
            let other = existing == nil ? write(record, key: key + "-other") : (CallOutcome(status: .ok), nil)
            return Finding(status: .passed, summary: "the same idempotency key twice yields one record (\(id1))" + (verifiable ? ", read back at the target" : unverified),
                           details: existing == nil ? ["a different key: \(other.0.status) \(other.1 ?? "")"] : [])
        }
        // The host sends a later version of a record it wrote before with that record's id and a key of its own.
        check("write.updates") {
            let externalID = "conformance-\(options.seed)-updated"
            guard let sample = sample(entity, externalID: externalID) else {
                return Finding(status: .skipped, summary: "no sample for \(entity)")
            }
            let key = "conformance-\(options.seed)-key-update"
            let created = existing.map { (CallOutcome(status: .ok), Optional($0)) } ?? write(sample.bytes, key: key + "-1")
            guard created.0.isOK, let id = created.1 else { return Finding(status: .failed, summary: "writing a valid \(entity) failed: \(created.0.summary)") }
            let before = targetRecords()
            let newName = "Conformance renamed \(options.seed) \(nonce)"
            let changed = sample["name"] != nil ? sample.setting("name", .string(newName)) : sample
            let updated = write(changed.bytes, key: key + "-2", externalID: id)
            guard updated.0.isOK, let again = updated.1 else {
                return Finding(status: .failed, summary: "updating \(entity) \(id) (its external_id given) failed: \(updated.0.summary)")
            }
            if again != id {
                return Finding(status: .failed, summary: "an update of \(id) (its external_id given, a new key) created \(again)",
                               details: ["a record changed at its source would be a second record at the target: write to the record external_id names"])
            }
            if let before, let after = targetRecords() {
                if exactCounts && after.count != before.count {
                    return Finding(status: .failed, summary: "the update of \(id) changed the number of records at the target by \(after.count - before.count)",
                                   details: ["an update must change the record external_id names, and create nothing"])
                }
                if sample["name"] != nil {
                    let renamed = carrying(newName, in: after)
                    if renamed.count != 1 || !Self.mentions(renamed[0], id) {
                        return Finding(status: .failed, summary: renamed.isEmpty
                                       ? "the update of \(id) answered OK, but the record at the target does not show the new name \"\(newName)\""
                                       : "the update of \(id) left \(renamed.count) record(s) named \"\(newName)\" at the target, expected it alone")
                    }
                }
            }
            return Finding(status: .passed, summary: "a write with the external_id of \(id) updates it" + (verifiable ? ", read back at the target" : unverified))
        }
    }

    /// The runner's sample record of `entity` (its required fields), with the fixture's `write.record` set over it.
    func sample(_ entity: String, externalID: String) -> JSON? {
        guard var record = CanonicalSamples.record(entity: entity, externalID: externalID) else { return nil }
        for (name, value) in options.fixture?.writeRecord ?? [] { record = record.setting(name, value) }
        return record
    }

    /// Whether a record at the target carries this id in any top-level member.
    static func mentions(_ record: JSON, _ id: String) -> Bool {
        guard case .object(let members) = record else { return false }
        return members.contains { FixtureServer.text($0.1) == id }
    }

    func fixtureConnectionClassification(_ plugin: SandboxedPlugin, _ server: FixtureServer) -> Finding {
        var details: [String] = []
        var wrong = 0
        let requestsBefore = server.requestCount
        let ok = note("check_connection", plugin.checkConnection(deadline: deadline, labels: [:]))
        if server.requestCount == requestsBefore {
            return Finding(status: .skipped, summary: "check_connection made no request through host egress; its classification cannot be observed")
        }
        if !ok.isOK { wrong += 1 }
        details.append("the fixture answering: \(ok.status)\(ok.isOK ? "" : ", expected OK")")
        for (fault, expected) in [(FixtureServer.Fault.unauthorized, OperationStatus.auth), (.unavailable, .retry)] {
            server.inject(fault)
            let outcome = note("check_connection", plugin.checkConnection(deadline: deadline, labels: [:]))
            server.clearFaults()
            if outcome.status != expected { wrong += 1 }
            details.append("\(fault.rawValue): \(outcome.status)\(outcome.status == expected ? "" : ", expected \(expected)")")
        }
        return wrong == 0 ? Finding(status: .passed, summary: "OK, AUTH and RETRY told apart against the fixture", details: details)
            : Finding(status: .failed, summary: "\(wrong) answer(s) misclassified (an auth error must be AUTH, a transient one RETRY)", details: details)
    }

    /// A read and a write, each answered with every error class in turn.
    func checkHTTPClasses(_ plugin: SandboxedPlugin, _ server: FixtureServer) {
        check("errors.http_classified") {
            var operations: [(String, () -> CallOutcome)] = []
            if plugin.info.has(.read), let stream = streams.first(where: { $0.name == options.fixture?.readStream }) ?? streams.first {
                operations.append(("read \(stream.name)", { plugin.read(stream: stream.name, state: [], maxRecords: 10, deadline: self.deadline, labels: [:]) { _ in .ok } }))
            }
            if plugin.info.has(.write), let record = CanonicalSamples.record(entity: writeEntity, externalID: "conformance-errors")?.bytes {
                var n = 0
                operations.append(("write \(writeEntity)", {
                    n += 1
                    return self.write(record, key: "conformance-\(self.options.seed)-errors-\(n)").0
                }))
            }
            if operations.isEmpty { return Finding(status: .skipped, summary: "the plugin neither reads nor writes") }
            var details: [String] = []
            var wrong = 0
            for (label, call) in operations {
                for fault in FixtureServer.Fault.allCases {
                    let seenBefore = server.requestCount
                    server.inject(fault)
                    let outcome = note(label, call())
                    server.clearFaults()
                    let expected: [OperationStatus] = switch fault {
                    case .unauthorized: [.auth]
                    case .tooManyRequests, .unavailable: [.retry]
                    case .rejected: [.fatal]
                    case .malformed: [.retry, .fatal]
                    }
                    var problem: String?
                    if server.requestCount == seenBefore {
                        problem = "made no request, so the answer could not be tested"
                    } else if !expected.contains(outcome.status) {
                        problem = "expected \(expected.map { "\($0)" }.joined(separator: " or "))"
                    } else if outcome.diagnostics.isEmpty {
                        problem = "no diagnostic says why"
                    }
                    if problem != nil { wrong += 1 }
                    details.append("\(label), \(fault.rawValue): \(outcome.status)\(problem.map { " — \($0)" } ?? "")")
                }
            }
            return wrong == 0 ? Finding(status: .passed, summary: "401, 429, 503, 422 and a malformed answer each classified, with a diagnostic", details: details)
                : Finding(status: .failed, summary: "\(wrong) error answer(s) misclassified", details: details)
        }
    }
}
