import Foundation
import Logging
import SwitchboardCore
import SwitchboardPackages

/// Hot reload (docs/PACKAGES.md, "Hot reload"): a running host takes an install, an upgrade, a rollback or a plugin
/// file dropped into its directory without a restart, by opening the new configuration as a new generation and
/// swapping it in between batches. Nothing is lost or run twice: work is claimed from the durable queue, and a batch,
/// a poll or a delivery finishes on the generation that started it.
extension Runtime {
    /// What a reload did.
    public enum ReloadResult: Sendable, Equatable {
        case unchanged
        case reloaded(generation: Int)
        /// The new configuration did not load; the running one goes on (each problem at its file:line).
        case failed([String])
    }

    /// How often the watcher looks at the installed packages and the plugin directory.
    public static let reloadCheckMillis: Int64 = 500

    /// Opens the configuration again and swaps it in; the old generation closes when its last holder lets go.
    /// A configuration that does not load (or whose plugins do not open) changes nothing.
    @discardableResult
    public func reload(reason: String) -> ReloadResult {
        guard let reloadConfig else { return .unchanged }
        return reloading.withLock { _ -> ReloadResult in
            guard !isStopping else { return .unchanged }
            let old = current
            let started = Clock.monotonicNanoseconds()
            let next: Generation
            do throws(ConfigError) {
                let config = try reloadConfig()
                let registry = try ConnectionRegistry(config: config, store: store, vault: vault, logger: logger)
                next = Generation(number: old.number + 1, config: config, registry: registry, store: store, recentWrites: recentWrites)
            } catch {
                let problems = error.problems.map(\.description)
                logger.error("reload refused: the new configuration does not load; the running one goes on", metadata: [
                    "reason": .string(reason), "problems": .string(problems.joined(separator: "; "))])
                auditOwnDecision("config.reload_failed", target: "generation \(old.number)", detail: "\(reason): \(problems.joined(separator: "; "))")
                return .failed(problems)
            }
            generation.withLock { $0 = next }
            old.retire()
            let changes = Self.packageChanges(from: old.config, to: next.config) + Self.pluginChanges(from: old.registry, to: next.registry)
            let millis = (Clock.monotonicNanoseconds() - started) / 1_000_000
            logger.notice("configuration reloaded: new work runs on the new generation, work in flight finishes on the old", metadata: [
                "generation": .string("\(next.number)"), "reason": .string(reason), "changes": .string(changes), "ms": .string("\(millis)")])
            auditOwnDecision("config.reloaded", target: "generation \(next.number)", detail: "\(reason): \(changes)")
            return .reloaded(generation: next.number)
        }
    }

    /// "acme: switchboard.o2c 1.0.0 -> 1.1.0" for each tenant whose packages changed; "no package changed" else.
    static func packageChanges(from old: SwitchboardConfig, to new: SwitchboardConfig) -> String {
        var lines: [String] = []
        for tenant in new.tenants {
            let before = old.tenant(tenant.id)?.packageVersions ?? [:]
            for id in Set(before.keys).union(tenant.packageVersions.keys).sorted() where before[id] != tenant.packageVersions[id] {
                lines.append("\(tenant.id): \(id) \(before[id] ?? "none") -> \(tenant.packageVersions[id] ?? "removed")")
            }
        }
        return lines.isEmpty ? "no package changed" : lines.joined(separator: ", ")
    }

    /// "; plugin example-c 1.0.0 -> 1.1.0" for each plugin-directory plugin whose version changed.
    static func pluginChanges(from old: ConnectionRegistry, to new: ConnectionRegistry) -> String {
        let before = Dictionary(old.catalog.plugins.map { ($0.descriptor.id, $0.descriptor.version) }) { a, _ in a }
        let after = Dictionary(new.catalog.plugins.map { ($0.descriptor.id, $0.descriptor.version) }) { a, _ in a }
        let lines = Set(before.keys).union(after.keys).sorted().compactMap { id -> String? in
            before[id] == after[id] ? nil : "plugin \(id) \(before[id] ?? "none") -> \(after[id] ?? "removed")"
        }
        return lines.isEmpty ? "" : "; " + lines.joined(separator: ", ")
    }

    /// What the watcher compares: the installed packages and the plugin directory's files (name, size, time).
    func reloadFingerprint() -> String {
        let config = self.config
        var parts: [String] = []
        if let data = FileManager.default.contents(atPath: config.packagesDir + "/" + InstalledPackages.fileName) {
            // The whole text, not Data's hash (which reads only a prefix): a change far down the file must be seen.
            parts.append("installed " + String(decoding: data, as: UTF8.self))
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: config.pluginDir)) ?? []).filter { $0.hasSuffix(".so") }.sorted()
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(atPath: config.pluginDir + "/" + name)
            let size = attributes?[.size] as? Int ?? -1
            let time = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            parts.append("\(name) \(size) \(time)")
        }
        return parts.joined(separator: "\n")
    }

    /// Watches the installed packages and the plugin directory; reloads when either changes (once per change: a
    /// configuration that fails is tried again only when something changes again).
    func reloadLoop() {
        var seen = reloadFingerprint()
        while !isStopping {
            sleepUnlessStopping(nanos: Self.reloadCheckMillis * 1_000_000)
            guard !isStopping else { break }
            let now = reloadFingerprint()
            guard now != seen else { continue }
            // A file being written settles first: look again after a short pause.
            sleepUnlessStopping(nanos: 200_000_000)
            let settled = reloadFingerprint()
            guard settled == now, !isStopping else { continue }
            seen = settled
            reload(reason: "the installed packages or the plugin directory changed")
        }
    }
}
