import SwitchboardCore
import SwitchboardStore
import Synchronization

/// One loaded configuration and what it opened: its plugin instances, its router and executor (docs/PACKAGES.md,
/// "Hot reload"). A running host swaps generations to take an install, an upgrade, a rollback or a plugin file
/// dropped into its directory without a restart. Whatever started on a generation (a batch of work, a poll, a
/// webhook delivery, an operator's retry) holds it and finishes on it; a retired generation closes its plugin
/// instances when its last holder lets go, so no call ever reaches an instance that was closed under it.
public final class Generation: @unchecked Sendable {
    /// 1 for the configuration the host started with, then one more per reload.
    public let number: Int
    public let config: SwitchboardConfig
    public let registry: ConnectionRegistry
    let router: WorkflowRouter
    let executor: WorkflowExecutor

    private struct Holders {
        var count = 0
        var retired = false
        var closed = false
    }
    private let holders = Mutex(Holders())

    init(number: Int, config: SwitchboardConfig, registry: ConnectionRegistry, store: any IntegrationStore, recentWrites: RecentWrites) {
        self.number = number
        self.config = config
        self.registry = registry
        router = WorkflowRouter(config: config)
        executor = WorkflowExecutor(config: config, registry: registry, router: router, store: store, recentWrites: recentWrites)
    }

    func hold() { holders.withLock { $0.count += 1 } }

    func release() {
        let close = holders.withLock { h -> Bool in
            h.count -= 1
            return Self.closing(&h)
        }
        if close { registry.close() }
    }

    /// No longer current: closes now if nothing holds it, else when the last holder releases it.
    func retire() {
        let close = holders.withLock { h -> Bool in
            h.retired = true
            return Self.closing(&h)
        }
        if close { registry.close() }
    }

    /// Whether its instances were closed (tests: a retired generation must close once released).
    public var isClosed: Bool { holders.withLock { $0.closed } }

    private static func closing(_ h: inout Holders) -> Bool {
        guard h.retired, h.count == 0, !h.closed else { return false }
        h.closed = true
        return true
    }
}
