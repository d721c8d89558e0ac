import SwitchboardABI
import Testing

/// ABI v1 is released: these sizes and offsets may never change. A new field
/// goes at the end of its struct (a minor version) and gets a line here; any
/// other failure below is an ABI break. PluginSDK/src/abi_layout.c pins the
/// same figures at C compile time.
@Suite struct FrozenLayoutTests {
    func offset<T>(_ path: PartialKeyPath<T>) -> Int? { MemoryLayout<T>.offset(of: path) }

    @Test func buffers() {
        #expect(MemoryLayout<sb_str>.size == 16)
        #expect(MemoryLayout<sb_bytes>.size == 16)
        #expect(MemoryLayout<sb_host_buf>.size == 24)
        #expect(offset(\sb_host_buf.handle) == 16)
    }

    @Test func manifest() {
        #expect(MemoryLayout<sb_manifest>.size == 64)
        let expected: [(PartialKeyPath<sb_manifest>, Int)] = [
            (\.struct_size, 0), (\.abi_major, 4), (\.abi_minor, 6), (\.id, 8), (\.version, 16), (\.kind, 24),
            (\.reserved0, 28), (\.capabilities, 32), (\.name, 40), (\.description, 48), (\.vendor, 56),
        ]
        for (path, at) in expected { #expect(offset(path) == at, "\(path)") }
    }

    @Test func dataStructs() {
        #expect(MemoryLayout<sb_diag>.size == 56)
        #expect([offset(\sb_diag.severity), offset(\sb_diag.summary), offset(\sb_diag.detail), offset(\sb_diag.field_path)]
                == [4, 8, 24, 40])
        #expect(MemoryLayout<sb_emit>.size == 40)
        #expect([offset(\sb_emit.kind), offset(\sb_emit.key), offset(\sb_emit.data)] == [4, 8, 24])
        #expect(MemoryLayout<sb_http_header>.size == 32)
        #expect(MemoryLayout<sb_http_request>.size == 72)
        #expect([offset(\sb_http_request.header_count), offset(\sb_http_request.method), offset(\sb_http_request.url),
                 offset(\sb_http_request.headers), offset(\sb_http_request.body), offset(\sb_http_request.timeout_ms),
                 offset(\sb_http_request.flags)] == [4, 8, 24, 40, 48, 64, 68])
        #expect(MemoryLayout<sb_http_response>.size == 56)
        #expect([offset(\sb_http_response.status), offset(\sb_http_response.headers), offset(\sb_http_response.body)] == [4, 8, 32])
        #expect(MemoryLayout<sb_read_request>.size == 40)
        #expect([offset(\sb_read_request.max_records), offset(\sb_read_request.stream), offset(\sb_read_request.state)] == [4, 8, 24])
        #expect(MemoryLayout<sb_write_request>.size == 72)
        #expect([offset(\sb_write_request.entity), offset(\sb_write_request.idempotency_key),
                 offset(\sb_write_request.external_id), offset(\sb_write_request.record)] == [8, 24, 40, 56])
    }

    @Test func hostAPI() {
        #expect(MemoryLayout<sb_host_api>.size == 112)
        let slots: [PartialKeyPath<sb_host_api>] = [
            \.log, \.metric, \.emit, \.diag, \.secret_get, \.http, \.state_get, \.state_put, \.buf_release,
            \.clock_unix_ns, \.clock_monotonic_ns, \.cancelled, \.deadline_ns,
        ]
        for (index, path) in slots.enumerated() { #expect(offset(path) == 8 + 8 * index, "\(path)") }
    }

    /// ABI 1.0's ten slots where they were; 1.1 appended `fetch` after them (a 1.0 plugin's table is the first 88 bytes).
    @Test func pluginVTable() {
        #expect(MemoryLayout<sb_plugin_vtable>.size == 96)
        let slots: [PartialKeyPath<sb_plugin_vtable>] = [
            \.spec, \.validate_config, \.open, \.close, \.check_connection, \.discover, \.read, \.write,
            \.handle_webhook, \.on_event, \.fetch,
        ]
        for (index, path) in slots.enumerated() { #expect(offset(path) == 8 + 8 * index, "\(path)") }
    }

    @Test func fetchRequest() {
        #expect(MemoryLayout<sb_fetch_request>.size == 56)
        #expect([offset(\sb_fetch_request.reserved0), offset(\sb_fetch_request.entity), offset(\sb_fetch_request.external_id),
                 offset(\sb_fetch_request.event_type)] == [4, 8, 24, 40])
    }

    @Test func initStructs() {
        #expect(MemoryLayout<sb_init_args>.size == 24)
        #expect([offset(\sb_init_args.host_abi_major), offset(\sb_init_args.host_abi_minor), offset(\sb_init_args.host),
                 offset(\sb_init_args.call)] == [4, 6, 8, 16])
        #expect(MemoryLayout<sb_init_result>.size == 16)
        #expect([offset(\sb_init_result.abi_minor), offset(\sb_init_result.vtable)] == [4, 8])
    }

    @Test func constantsAreFrozen() {
        #expect([SB_OK, SB_RETRY, SB_FATAL, SB_CONFIG, SB_AUTH, SB_CANCELLED] == [0, 1, 2, 3, 4, 5])
        #expect([SB_EMIT_SPEC, SB_EMIT_CATALOG, SB_EMIT_RECORD, SB_EMIT_STATE, SB_EMIT_WRITE_RESULT, SB_EMIT_EVENT,
                  SB_EMIT_COMMAND, SB_EMIT_RETRY_AFTER] == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(SB_CAP_ALL_V1 == 0xFF)
        #expect(SB_ABI_MAJOR == 1)
    }
}
