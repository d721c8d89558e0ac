import SwitchboardABI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Produces the two C entry points from a Swift plugin type. A plugin needs
/// exactly this glue (the SDK is linked into each plugin, so this state is
/// private to one plugin library):
///
/// ```swift
/// @_cdecl("switchboard_plugin_manifest")
/// public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(MyConnector.self) }
///
/// @_cdecl("switchboard_plugin_init")
/// public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
///     PluginExport.initialize(MyConnector.self, args, result)
/// }
/// ```
public enum PluginExport {
    /// The static `sb_manifest` for `type`, built once and never freed (the host never unloads plugins).
    public static func manifest(_ type: any SwitchboardPlugin.Type) -> UnsafeRawPointer {
        exported.withLock { state in
            if let built = state.manifest { return UnsafeRawPointer(built) }
            let m = type.manifest
            let storage = UnsafeMutablePointer<sb_manifest>.allocate(capacity: 1)
            storage.initialize(to: sb_manifest(
                struct_size: UInt32(MemoryLayout<sb_manifest>.size),
                abi_major: UInt16(SB_ABI_MAJOR), abi_minor: UInt16(SB_ABI_MINOR),
                id: strdup(m.id), version: strdup(m.version), kind: m.kind.rawValue, reserved0: 0,
                capabilities: m.capabilities.rawValue,
                name: m.name.map { UnsafePointer(strdup($0)) } ?? nil,
                description: m.description.map { UnsafePointer(strdup($0)) } ?? nil,
                vendor: m.vendor.map { UnsafePointer(strdup($0)) } ?? nil))
            state.manifest = storage
            return UnsafeRawPointer(storage)
        }
    }

    /// Implements `switchboard_plugin_init`: negotiates the minor version and returns the vtable.
    public static func initialize(_ type: any SwitchboardPlugin.Type, _ args: UnsafeRawPointer?,
                                  _ result: UnsafeMutableRawPointer?) -> Int32 {
        guard let args = args?.assumingMemoryBound(to: sb_init_args.self),
              let result = result?.assumingMemoryBound(to: sb_init_result.self),
              let api = args.pointee.host else { return SB_FATAL }
        let host = HostCall(call: args.pointee.call, api: api)
        guard args.pointee.host_abi_major == UInt16(SB_ABI_MAJOR) else {
            host.report(PluginDiagnostic("host ABI major \(args.pointee.host_abi_major) is not \(SB_ABI_MAJOR)"))
            return SB_FATAL
        }
        guard result.pointee.struct_size >= UInt32(MemoryLayout<sb_init_result>.size) else {
            host.report(PluginDiagnostic("sb_init_result is too small"))
            return SB_FATAL
        }
        let vtable = exported.withLock { state -> UnsafePointer<sb_plugin_vtable> in
            if let built = state.vtable { return UnsafePointer(built) }
            let table = UnsafeMutablePointer<sb_plugin_vtable>.allocate(capacity: 1)
            table.initialize(to: makeVTable(type.manifest.capabilities, minor: sb_negotiate_minor(args.pointee.host_abi_minor)))
            state.vtable = table
            return UnsafePointer(table)
        }
        registered = (type, api)
        result.pointee.abi_minor = sb_negotiate_minor(args.pointee.host_abi_minor)
        result.pointee.vtable = vtable
        return SB_OK
    }
}

private struct ExportState: @unchecked Sendable {
    var manifest: UnsafeMutablePointer<sb_manifest>?
    var vtable: UnsafeMutablePointer<sb_plugin_vtable>?
}

private let exported = Mutex(ExportState())

/// Written once by init before the host calls any slot; read lock-free on every call.
nonisolated(unsafe) private var registered: (type: any SwitchboardPlugin.Type, api: UnsafePointer<sb_host_api>)?

/// The object behind an `sb_instance *`.
private final class InstanceBox {
    let plugin: any SwitchboardPlugin
    let connector: (any ConnectorPlugin)?
    let workflow: (any WorkflowPlugin)?
    init(_ plugin: any SwitchboardPlugin) {
        self.plugin = plugin
        connector = plugin as? any ConnectorPlugin
        workflow = plugin as? any WorkflowPlugin
    }
}

private func box(_ instance: OpaquePointer?) -> InstanceBox? {
    guard let instance else { return nil }
    return Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(instance)).takeUnretainedValue()
}

/// Runs plugin code and turns a thrown error into a status plus a diagnostic.
private func run(_ call: OpaquePointer?, _ body: (HostCall) throws -> Void) -> Int32 {
    guard let api = registered?.api else { return SB_FATAL }
    let host = HostCall(call: call, api: api)
    do {
        try body(host)
        return SB_OK
    } catch let error as PluginError {
        host.report(error.diagnostic)
        return error.status.rawValue
    } catch {
        host.report(PluginDiagnostic("unexpected error: \(error)"))
        return SB_FATAL
    }
}

private func notThisKind(_ op: String) -> PluginError { .fatal("\(op) is not supported by this plugin kind") }

/// The table for the negotiated minor: an older host gets the table of its minor (sized for it, no newer slots).
private func makeVTable(_ caps: Capabilities, minor: UInt16) -> sb_plugin_vtable {
    var table = sb_plugin_vtable()
    table.struct_size = UInt32(minor >= 1 ? MemoryLayout<sb_plugin_vtable>.size : MemoryLayout<sb_plugin_vtable>.offset(of: \.fetch)!)
    table.spec = { call in
        run(call) { host in try host.emit(kind: SB_EMIT_SPEC, key: "", data: Array(registered!.type.configSchema.utf8)) }
    }
    table.validate_config = { call, config in
        run(call) { host in
            let problems = registered!.type.validate(config: config.array)
            problems.forEach(host.report)
            if problems.contains(where: { $0.severity == .error }) { throw PluginError(.config, "invalid configuration") }
        }
    }
    table.open = { call, config, out in
        run(call) { host in
            let plugin = try registered!.type.init(config: config.array, host: host)
            out?.pointee = OpaquePointer(Unmanaged.passRetained(InstanceBox(plugin)).toOpaque())
        }
    }
    table.close = { instance, call in
        guard let instance else { return }
        let owned = Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(instance))
        _ = run(call) { host in owned.takeUnretainedValue().plugin.close(host: host) }
        owned.release()
    }
    if caps.contains(.check) {
        table.check_connection = { instance, call in
            run(call) { host in
                guard let c = box(instance)?.connector else { throw notThisKind("check_connection") }
                try c.checkConnection(host: host)
            }
        }
    }
    if caps.contains(.discover) {
        table.discover = { instance, call in
            run(call) { host in
                guard let c = box(instance)?.connector else { throw notThisKind("discover") }
                try host.emit(kind: SB_EMIT_CATALOG, key: "", data: Array(try c.discover(host: host).utf8))
            }
        }
    }
    if caps.contains(.read) {
        table.read = { instance, call, request in
            run(call) { host in
                guard let c = box(instance)?.connector, let r = request?.pointee else { throw notThisKind("read") }
                try c.read(ReadRequest(stream: r.stream.string, state: r.state.array, maxRecords: Int(r.max_records)), host: host)
            }
        }
    }
    if caps.contains(.write) {
        table.write = { instance, call, request in
            run(call) { host in
                guard let c = box(instance)?.connector, let r = request?.pointee else { throw notThisKind("write") }
                let id = try c.write(WriteRequest(entity: r.entity.string, idempotencyKey: r.idempotency_key.string,
                                                  externalID: r.external_id.string, record: r.record.array), host: host)
                try host.emit(kind: SB_EMIT_WRITE_RESULT, key: id, data: [])
            }
        }
    }
    if caps.contains(.webhook) {
        table.handle_webhook = { instance, call, request in
            run(call) { host in
                guard let c = box(instance)?.connector, let r = request?.pointee else { throw notThisKind("handle_webhook") }
                var headers: [(name: String, value: String)] = []
                if let list = r.headers {
                    for i in 0..<Int(r.header_count) { headers.append((list[i].name.string, list[i].value.string)) }
                }
                try c.handleWebhook(WebhookRequest(method: r.method.string, url: r.url.string, headers: headers, body: r.body.array),
                                    host: host)
            }
        }
    }
    if caps.contains(.fetch) && minor >= 1 {
        table.fetch = { instance, call, request in
            run(call) { host in
                guard let c = box(instance)?.connector, let r = request?.pointee else { throw notThisKind("fetch") }
                try c.fetch(FetchRequest(entity: r.entity.string, externalID: r.external_id.string, eventType: r.event_type.string), host: host)
            }
        }
    }
    if caps.contains(.onEvent) {
        table.on_event = { instance, call, type, event in
            run(call) { host in
                guard let w = box(instance)?.workflow else { throw notThisKind("on_event") }
                try w.onEvent(type: type.string, event: event.array, host: host)
            }
        }
    }
    return table
}
