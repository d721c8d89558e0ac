#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// SIGTERM or SIGINT that arrives while `switchboard run` is still starting (loading plugins, opening the store and
/// its connections): until the service group handles signals, their default action would kill the process mid-start,
/// so a process manager stopping a host that had just started saw it die by signal instead of exiting cleanly.
/// Installed first thing, the handler only notes the signal; `RuntimeService` stops as soon as it runs.
public enum StartupSignals {
    static let received = Atomic<Bool>(false)

    /// True once SIGTERM or SIGINT arrived before the service group took the signals over.
    public static var stopRequested: Bool { received.load(ordering: .relaxed) }

    public static func install() {
        _ = stopRequested  // the global exists before a handler can touch it (a signal handler must not initialize it)
        for number in [SIGTERM, SIGINT] {
            signal(number) { _ in StartupSignals.received.store(true, ordering: .relaxed) }
        }
    }
}
