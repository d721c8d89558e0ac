import SwitchboardHost

/// Reads plugin manifests in a probe worker, so no untrusted constructor or
/// init code runs in the host. One worker serves a whole directory; a file
/// that kills it is refused and the next file gets a fresh worker.
public final class SandboxInspector: @unchecked Sendable {
    private let settings: SandboxSettings
    private var worker: WorkerProcess?

    public init(settings: SandboxSettings = SandboxSettings()) { self.settings = settings }

    deinit { close() }

    public func inspect(path: String) throws(PluginLoadError) -> PluginInfo {
        do {
            if worker == nil { worker = try SandboxedPlugin.spawnWorker(path: path, settings: settings).0 }
            return try SandboxedPlugin.loadPlugin(path: path, in: worker!, settings: settings)
        } catch {
            if error.code == "sandbox-crash" || error.code == "sandbox-spawn" { worker = nil }
            throw PluginLoadError(path: path, reason: .sandboxed(code: error.code, message: error.message))
        }
    }

    /// Stops the probe worker.
    public func close() {
        guard let worker else { return }
        self.worker = nil
        try? worker.channel.send(FrameWriter(type: .quit).framed())
        worker.reap(graceMillis: 1_000)
    }
}
