/// Why the host refused a plugin file. Every refusal names the file and what
/// to do; none of them crashes the host.
public struct PluginLoadError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case unreadable(String)
        case notELF(String)
        case truncated(String)
        case dlopenFailed(String)
        case missingSymbol(String)
        case wrongABIMajor(plugin: Int, host: Int)
        case unknownTail(structName: String, pluginMinor: Int, hostMinor: Int, byteOffset: Int)
        case invalidManifest(field: String, problem: String)
        case duplicateID(id: String, firstPath: String)
        case initFailed(status: String, diagnostics: [String])
        case invalidVTable(field: String, problem: String)
        /// A sandbox worker refused the file or died loading it; the text names the file.
        case sandboxed(code: String, message: String)
    }

    public var path: String
    public var reason: Reason
    /// The plugin's id when its manifest was read before the refusal (init failed, hung or crashed).
    public var pluginID: String?

    public init(path: String, reason: Reason, pluginID: String? = nil) {
        self.path = path
        self.reason = reason
        self.pluginID = pluginID
    }

    /// A short machine-readable code for each kind of refusal.
    public var code: String {
        switch reason {
        case .unreadable: "unreadable"
        case .notELF: "not-elf"
        case .truncated: "truncated"
        case .dlopenFailed: "dlopen-failed"
        case .missingSymbol: "missing-symbol"
        case .wrongABIMajor: "abi-major"
        case .unknownTail: "abi-unknown-fields"
        case .invalidManifest: "invalid-manifest"
        case .duplicateID: "duplicate-id"
        case .initFailed: "init-failed"
        case .invalidVTable: "invalid-vtable"
        case .sandboxed(let code, _): code
        }
    }

    public var description: String {
        switch reason {
        case .unreadable(let why):
            return "\(path): cannot read the file: \(why)"
        case .notELF(let why):
            return "\(path): not an ELF shared object (\(why)); a plugin is a .so built with -shared -fPIC"
        case .truncated(let why):
            return "\(path): truncated file (\(why)); copy or build it again"
        case .dlopenFailed(let why):
            return "\(path): the dynamic linker refused it: \(why)"
        case .missingSymbol(let name):
            return "\(path): missing entry symbol \(name)(); not a Switchboard plugin (define it with SB_EXPORT, or the Swift SDK's @_cdecl glue)"
        case .wrongABIMajor(let plugin, let host):
            return "\(path): built for plugin ABI major \(plugin), this host speaks ABI major \(host); rebuild it against this host's switchboard/plugin.h"
        case .unknownTail(let name, let pluginMinor, let hostMinor, let offset):
            return "\(path): \(name) from ABI 1.\(pluginMinor) sets fields this host (ABI 1.\(hostMinor)) does not know (non-zero byte at offset \(offset)); upgrade the host or rebuild the plugin against ABI 1.\(hostMinor)"
        case .invalidManifest(let field, let problem):
            return "\(path): invalid manifest: \(field): \(problem)"
        case .duplicateID(let id, let first):
            return "\(path): duplicate plugin id \"\(id)\", already provided by \(first); remove one of the two files"
        case .initFailed(let status, let diagnostics):
            let why = diagnostics.isEmpty ? "no diagnostic given" : diagnostics.joined(separator: "; ")
            return "\(path): switchboard_plugin_init returned \(status): \(why)"
        case .invalidVTable(let field, let problem):
            return "\(path): invalid vtable: \(field): \(problem)"
        case .sandboxed(_, let message):
            return message
        }
    }
}
