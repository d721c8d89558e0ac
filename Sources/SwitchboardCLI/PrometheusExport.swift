import Metrics
import Prometheus

/// The process's Prometheus registry: swift-metrics routed into it once, rendered by the admin
/// server's `GET /metrics` (on `--http-port`, and alone on `--metrics-port`).
enum PrometheusExport {
    static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics into the Prometheus registry (once per process).
    static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The registry in the Prometheus text format.
    @Sendable static func text() -> String { registry.emitToString() }
}
