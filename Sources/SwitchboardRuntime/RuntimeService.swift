import Logging
import ServiceLifecycle

/// `switchboard run` as a swift-service-lifecycle service: SIGTERM or SIGINT
/// starts a graceful shutdown (reads stop at their last checkpoint, the batch
/// in hand commits, plugins close); `exitWhenIdle` ends it once nothing is left.
public struct RuntimeService: Service {
    let runtime: Runtime
    let exitWhenIdle: Bool

    public init(runtime: Runtime, exitWhenIdle: Bool) {
        self.runtime = runtime
        self.exitWhenIdle = exitWhenIdle
    }

    public func run() async throws {
        runtime.start()
        // A signal that came during start-up (StartupSignals) stops it as one that comes now would.
        while !Task.isShuttingDownGracefully && !Task.isCancelled && !StartupSignals.stopRequested {
            if exitWhenIdle && runtime.isIdle() { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        runtime.stop()
    }

    /// Runs the service (and `alongside`, e.g. the HTTP server) until a signal or, with `exitWhenIdle`, until idle.
    public static func runUntilStopped(_ runtime: Runtime, exitWhenIdle: Bool, alongside: [any Service] = [], logger: Logger) async throws {
        let service = RuntimeService(runtime: runtime, exitWhenIdle: exitWhenIdle)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: alongside.map { .init(service: $0) } + [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
