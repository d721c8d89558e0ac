import SwitchboardABI
import SwitchboardCore

extension PluginLibrary {
    /// Runs a library-level operation (no instance) with a fresh call context.
    private func withCall(_ operation: StaticString, allowed: UInt32, sink: EmitSink?,
                          _ body: (OpaquePointer) -> Int32) -> CallOutcome {
        let context = CallContext(pluginID: descriptor.id, services: InstanceServices())
        context.begin(operation, allowed: allowed, sink: sink)
        let status = context.finishedStatus(body(context.pointer))
        context.end()
        context.retire()
        return CallOutcome(status: status, diagnostics: context.finishedDiagnostics)
    }

    /// The JSON Schema of the plugin's configuration.
    public func configSpec() throws(PluginCallError) -> String {
        var schema: String?
        let outcome = withCall("spec", allowed: PluginOperation.spec.acceptedEmits, sink: { item in
            schema = String(decoding: item.data, as: UTF8.self)
            return .ok
        }) { call in vtable.spec!(call) }
        guard outcome.isOK, let schema else {
            var failed = outcome
            if failed.isOK {
                failed.status = .fatal
                failed.diagnostics.append(Diagnostic("spec returned OK but emitted no SB_EMIT_SPEC item"))
            }
            throw PluginCallError(pluginID: descriptor.id, operation: "spec", outcome: failed)
        }
        return schema
    }

    /// Checks a configuration without I/O: OK, or CONFIG with a diagnostic per problem.
    public func validate(config: [UInt8]) -> CallOutcome {
        withCall("validate_config", allowed: PluginOperation.validateConfig.acceptedEmits, sink: nil) { call in
            config.withUnsafeBufferPointer { vtable.validate_config!(call, sb_bytes(ptr: $0.baseAddress, len: $0.count)) }
        }
    }

    /// Opens an instance for one connection. The host validates first, so a
    /// bad config never reaches `open`.
    public func open(config: [UInt8], services: InstanceServices = InstanceServices()) throws(PluginCallError) -> PluginInstance {
        let validation = validate(config: config)
        guard validation.isOK else {
            throw PluginCallError(pluginID: descriptor.id, operation: "validate_config", outcome: validation)
        }
        var scoped = services
        // Raw secrets need both the plugin's declaration and the operator's consent.
        scoped.rawSecretsAllowed = services.rawSecretsAllowed && has(.rawSecrets)
        let context = CallContext(pluginID: descriptor.id, services: scoped)
        context.begin("open", allowed: PluginOperation.open.acceptedEmits, sink: nil)
        var handle: OpaquePointer?
        let raw = config.withUnsafeBufferPointer { vtable.open!(context.pointer, sb_bytes(ptr: $0.baseAddress, len: $0.count), &handle) }
        let status = context.finishedStatus(raw)
        context.end()
        let outcome = CallOutcome(status: status, diagnostics: context.finishedDiagnostics)
        guard status == .ok, let handle else {
            // Opened, but failed by the host (an oversize emit): the plugin gets its instance back to free.
            if raw == SB_OK, let handle {
                context.begin("close", allowed: 0, sink: nil)
                vtable.close?(handle, context.pointer)
                context.end()
            }
            var failed = outcome
            if failed.isOK {
                failed.status = .fatal
                failed.diagnostics.append(Diagnostic("open returned OK without an instance"))
            }
            throw PluginCallError(pluginID: descriptor.id, operation: "open", outcome: failed)
        }
        return PluginInstance(library: self, handle: handle, context: context)
    }
}
