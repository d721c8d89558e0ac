import SwitchboardABI
import SwitchboardCore

/// Validates a plugin's `sb_manifest` field by field before any other plugin code runs.
package enum ManifestReader {
    /// Longest NUL-terminated string read from a manifest: a runaway pointer stops here.
    static let maxString = 4096

    package static func read(_ raw: UnsafeRawPointer, path: String) throws(PluginLoadError) -> (sb_manifest, PluginDescriptor) {
        func invalid(_ field: String, _ problem: String) -> PluginLoadError {
            PluginLoadError(path: path, reason: .invalidManifest(field: field, problem: problem))
        }
        let declaredSize = Int(raw.load(as: UInt32.self))
        let majorEnd = MemoryLayout<sb_manifest>.offset(of: \.abi_minor)! + 2
        guard declaredSize >= majorEnd else { throw invalid("struct_size", "\(declaredSize) is too small to be an sb_manifest") }
        // The major decides how to read everything else, so check it first.
        let major = Int(raw.load(fromByteOffset: 4, as: UInt16.self))
        let minor = Int(raw.load(fromByteOffset: 6, as: UInt16.self))
        guard major == Int(SB_ABI_MAJOR) else {
            throw PluginLoadError(path: path, reason: .wrongABIMajor(plugin: major, host: Int(SB_ABI_MAJOR)))
        }
        let manifest: sb_manifest
        switch StructCopy.read(raw, as: sb_manifest.self, declaredSize: declaredSize, minimumSize: MemoryLayout<sb_manifest>.size,
                               probeTail: true) {
        case .ok(let value): manifest = value
        case .unknownTail(let offset):
            throw PluginLoadError(path: path, reason: .unknownTail(structName: "sb_manifest", pluginMinor: minor,
                                                                   hostMinor: Int(SB_ABI_MINOR), byteOffset: offset))
        case .tooSmall(let size):
            throw invalid("struct_size", "\(size) is smaller than the v1 sb_manifest (\(MemoryLayout<sb_manifest>.size))")
        case .tooLarge(let size):
            throw invalid("struct_size", "\(size) is larger than any ABI 1 sb_manifest (at most \(MemoryLayout<sb_manifest>.size + StructCopy.maxTailBytes) bytes, all readable)")
        }

        guard let id = cString(manifest.id) else { throw invalid("id", "missing") }
        guard PluginDescriptor.isValidID(id) else { throw invalid("id", "\"\(id)\" must match [a-z0-9][a-z0-9._-]{0,63}") }
        guard let version = cString(manifest.version) else { throw invalid("version", "missing") }
        guard SemanticVersion(version) != nil else { throw invalid("version", "\"\(version)\" is not a semantic version (MAJOR.MINOR.PATCH)") }
        let kind: PluginDescriptor.Kind
        switch manifest.kind {
        case UInt32(SB_KIND_CONNECTOR): kind = .connector
        case UInt32(SB_KIND_WORKFLOW): kind = .workflow
        default: throw invalid("kind", "\(manifest.kind) is neither SB_KIND_CONNECTOR (1) nor SB_KIND_WORKFLOW (2)")
        }
        guard manifest.reserved0 == 0 else { throw invalid("reserved0", "must be 0") }
        // A bit is known if the minor the plugin was built against defines it (and this host knows that minor).
        let known = min(minor, Int(SB_ABI_MINOR)) >= 1 ? SB_CAP_ALL_V1_1 : SB_CAP_ALL_V1
        let unknownBits = manifest.capabilities & ~known
        guard unknownBits == 0 else {
            throw invalid("capabilities", "unknown bits 0x\(String(unknownBits, radix: 16)) (not in ABI 1.\(min(minor, Int(SB_ABI_MINOR))))")
        }
        if kind == .workflow && manifest.capabilities & SB_CAP_ON_EVENT == 0 {
            throw invalid("capabilities", "a workflow plugin must declare SB_CAP_ON_EVENT")
        }
        if kind == .connector && manifest.capabilities & SB_CAP_ON_EVENT != 0 {
            throw invalid("capabilities", "SB_CAP_ON_EVENT is for workflow plugins; this one is a connector")
        }
        let descriptor = PluginDescriptor(
            id: id, version: version, kind: kind, capabilities: PluginCapability.names(manifest.capabilities),
            name: cString(manifest.name), description: cString(manifest.description), vendor: cString(manifest.vendor),
            abiMajor: major, abiMinor: minor)
        return (manifest, descriptor)
    }

    /// A bounded copy of a NUL-terminated string; nil for NULL, empty, or unterminated within the bound.
    static func cString(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        var length = 0
        while length < maxString, pointer[length] != 0 { length += 1 }
        guard length > 0, length < maxString else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}

/// Validates the vtable a plugin's init returned.
enum VTableReader {
    static func read(_ raw: UnsafeRawPointer, manifest: sb_manifest, path: String) throws(PluginLoadError) -> sb_plugin_vtable {
        func invalid(_ field: String, _ problem: String) -> PluginLoadError {
            PluginLoadError(path: path, reason: .invalidVTable(field: field, problem: problem))
        }
        let declaredSize = Int(raw.load(as: UInt32.self))
        let table: sb_plugin_vtable
        // The mandatory core ends at `close`.
        let coreSize = MemoryLayout<sb_plugin_vtable>.offset(of: \.close)! + MemoryLayout<Int>.size
        switch StructCopy.read(raw, as: sb_plugin_vtable.self, declaredSize: declaredSize, minimumSize: coreSize, probeTail: true) {
        case .ok(let value): table = value
        case .unknownTail(let offset):
            throw PluginLoadError(path: path, reason: .unknownTail(structName: "sb_plugin_vtable", pluginMinor: Int(manifest.abi_minor),
                                                                   hostMinor: Int(SB_ABI_MINOR), byteOffset: offset))
        case .tooSmall(let size): throw invalid("struct_size", "\(size) is too small to hold the mandatory slots")
        case .tooLarge(let size):
            throw invalid("struct_size", "\(size) is larger than any ABI 1 sb_plugin_vtable (at most \(MemoryLayout<sb_plugin_vtable>.size + StructCopy.maxTailBytes) bytes, all readable)")
        }
        if table.spec == nil { throw invalid("spec", "mandatory slot is NULL") }
        if table.validate_config == nil { throw invalid("validate_config", "mandatory slot is NULL") }
        if table.open == nil { throw invalid("open", "mandatory slot is NULL") }
        if table.close == nil { throw invalid("close", "mandatory slot is NULL") }
        let declared: [(UInt64, String, Bool)] = [
            (SB_CAP_CHECK, "check_connection", table.check_connection != nil),
            (SB_CAP_DISCOVER, "discover", table.discover != nil),
            (SB_CAP_READ, "read", table.read != nil),
            (SB_CAP_WRITE, "write", table.write != nil),
            (SB_CAP_WEBHOOK, "handle_webhook", table.handle_webhook != nil),
            (SB_CAP_ON_EVENT, "on_event", table.on_event != nil),
            (SB_CAP_FETCH, "fetch", table.fetch != nil),
        ]
        for (bit, name, present) in declared where manifest.capabilities & bit != 0 && !present {
            throw invalid(name, "the manifest declares this capability but the slot is NULL")
        }
        return table
    }
}
