import SwitchboardHost

/// Reads plugin manifests in probe workers, so no untrusted constructor or
/// init code runs in the host. Each file gets a fresh worker whose view holds
/// that file alone: one plugin's constructor never runs beside another's
/// manifest, and a file that kills or hangs its worker is refused by name.
public final class SandboxInspector: @unchecked Sendable {
    private let settings: SandboxSettings

    public init(settings: SandboxSettings = SandboxSettings()) { self.settings = settings }

    public func inspect(path: String) throws(PluginLoadError) -> PluginInfo {
        var probe = settings
        probe.files = FileGrants()
        do {
            let worker = try SandboxedPlugin.spawnWorker(path: path, settings: probe).0
            defer {
                try? worker.channel.send(FrameWriter(type: .quit).framed())
                worker.reap(graceMillis: 1_000)
            }
            return try SandboxedPlugin.loadPlugin(path: path, in: worker, settings: probe)
        } catch {
            throw PluginLoadError(path: path, reason: .sandboxed(code: error.code, message: error.message), pluginID: error.pluginID)
        }
    }

    /// Nothing to stop: every probe worker ends with its file.
    public func close() {}
}
