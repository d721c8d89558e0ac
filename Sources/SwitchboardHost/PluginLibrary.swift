import SwitchboardABI
import SwitchboardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loaded, initialised plugin library: its validated manifest and vtable.
/// Libraries are never unloaded (RTLD_NODELETE): Swift plugins crash the host
/// after dlclose, and callbacks into an unloaded image are a classic plugin bug.
public final class PluginLibrary: @unchecked Sendable {
    public let path: String
    public let descriptor: PluginDescriptor
    /// min(host minor, plugin minor), agreed at init.
    public let negotiatedMinor: Int
    let vtable: sb_plugin_vtable
    let capabilities: UInt64

    /// The host's ABI version.
    public static let hostABIMajor = Int(SB_ABI_MAJOR)
    public static let hostABIMinor = Int(SB_ABI_MINOR)

    private init(path: String, descriptor: PluginDescriptor, negotiatedMinor: Int, vtable: sb_plugin_vtable, capabilities: UInt64) {
        self.path = path
        self.descriptor = descriptor
        self.negotiatedMinor = negotiatedMinor
        self.vtable = vtable
        self.capabilities = capabilities
    }

    /// Images already initialised in this process, by canonical path: init runs once per image.
    private static let loaded = Mutex<[String: PluginLibrary]>([:])

    /// Where a load is: what runs the plugin's code at that moment (a sandbox reports it, so a
    /// worker that dies or hangs there is named by stage and, once the manifest was read, by id).
    public enum LoadStage: UInt8, Sendable {
        /// dlopen: the library's constructors run.
        case linking = 1
        /// The manifest was read; switchboard_plugin_init runs.
        case initializing = 2

        public var text: String {
            switch self {
            case .linking: "in a library constructor (while the dynamic linker loaded it)"
            case .initializing: "in switchboard_plugin_init"
            }
        }
    }

    /// Loads and initialises the plugin at `path`, or explains why not. `onStage` hears each
    /// stage as it begins, with the plugin's id once the manifest is read.
    public static func load(path: String, onStage: ((LoadStage, String?) -> Void)? = nil) throws(PluginLoadError) -> PluginLibrary {
        let canonical = canonicalPath(path)
        if let known = loaded.withLock({ $0[canonical] }) { return known }
        // One load at a time: dlopen + init of the same image must not race.
        return try loadLock.withLock { _ throws(PluginLoadError) -> PluginLibrary in
            if let known = loaded.withLock({ $0[canonical] }) { return known }
            let library = try loadUncached(path: path, onStage: onStage)
            loaded.withLock { $0[canonical] = library }
            return library
        }
    }

    private static let loadLock = Mutex<Void>(())

    private static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func loadUncached(path: String, onStage: ((LoadStage, String?) -> Void)?) throws(PluginLoadError) -> PluginLibrary {
        func refuse(_ reason: PluginLoadError.Reason) -> PluginLoadError { PluginLoadError(path: path, reason: reason) }

        if let problem = ELFCheck.problem(atPath: path) { throw refuse(problem) }
        // A bare file name would make dlopen search the library path.
        let openPath = path.contains("/") ? path : "./" + path
        onStage?(.linking, nil)
        guard let handle = dlopen(openPath, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw refuse(.dlopenFailed(dlerror().map { String(cString: $0) } ?? "unknown error"))
        }
        guard let manifestSymbol = dlsym(handle, SB_MANIFEST_SYMBOL) else { throw refuse(.missingSymbol(SB_MANIFEST_SYMBOL)) }
        guard let initSymbol = dlsym(handle, SB_INIT_SYMBOL) else { throw refuse(.missingSymbol(SB_INIT_SYMBOL)) }

        let manifestFn = unsafeBitCast(manifestSymbol, to: sb_manifest_fn.self)
        guard let rawManifest = manifestFn() else {
            throw refuse(.invalidManifest(field: "manifest", problem: "switchboard_plugin_manifest() returned NULL"))
        }
        let (manifest, descriptor) = try ManifestReader.read(UnsafeRawPointer(rawManifest), path: path)

        // Init: negotiate the minor version, receive the vtable.
        onStage?(.initializing, descriptor.id)
        let context = CallContext(pluginID: descriptor.id, services: InstanceServices())
        context.begin("init", allowed: 0, sink: nil)
        defer {
            context.end()
            context.retire()
        }
        var args = sb_init_args(struct_size: UInt32(MemoryLayout<sb_init_args>.size), host_abi_major: UInt16(SB_ABI_MAJOR),
                                host_abi_minor: UInt16(SB_ABI_MINOR), host: HostAPI.table, call: context.pointer)
        var result = sb_init_result()
        result.struct_size = UInt32(MemoryLayout<sb_init_result>.size)
        let initFn = unsafeBitCast(initSymbol, to: sb_init_fn.self)
        let status = context.finishedStatus(initFn(&args, &result))
        guard status == .ok else {
            throw refuse(.initFailed(status: status.description, diagnostics: context.finishedDiagnostics.map(\.description)))
        }
        let expectedMinor = min(Int(SB_ABI_MINOR), Int(manifest.abi_minor))
        guard Int(result.abi_minor) == expectedMinor else {
            throw refuse(.initFailed(status: "OK", diagnostics: [
                "negotiated ABI minor \(result.abi_minor), expected min(host \(SB_ABI_MINOR), plugin \(manifest.abi_minor)) = \(expectedMinor)",
            ]))
        }
        guard let vtablePointer = result.vtable else {
            throw refuse(.invalidVTable(field: "vtable", problem: "init returned OK without a vtable"))
        }
        let vtable = try VTableReader.read(UnsafeRawPointer(vtablePointer), manifest: manifest, path: path)
        return PluginLibrary(path: path, descriptor: descriptor, negotiatedMinor: expectedMinor, vtable: vtable,
                             capabilities: manifest.capabilities)
    }

    public var info: PluginInfo {
        PluginInfo(path: path, descriptor: descriptor, capabilities: capabilities, negotiatedMinor: negotiatedMinor)
    }

    /// True if the plugin declares the capability (`SB_CAP_*`).
    public func has(_ capability: PluginCapability) -> Bool { capabilities & capability.bit != 0 }
}
