/*
 * Pins the frozen layout of ABI v1 at compile time (LP64 targets).
 *
 * A released struct may only grow at its end. If one of these fails, a field
 * was moved, resized or removed: that is an ABI break (a new major version),
 * not an edit. New fields go after the last one and get their own line here.
 * Tests/SwitchboardTests/FrozenLayoutTests.swift checks the same figures
 * from Swift. This file defines no symbols, so linking it into a plugin adds
 * nothing to the plugin's exports.
 */
#include "switchboard/plugin.h"

#if defined(__LP64__) || defined(_LP64)
#define SB_PIN(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field " moved")
#define SB_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " changed size")

SB_SIZE(sb_str, 16);
SB_SIZE(sb_bytes, 16);
SB_SIZE(sb_host_buf, 24);
SB_PIN(sb_host_buf, handle, 16);

SB_SIZE(sb_manifest, 64);
SB_PIN(sb_manifest, abi_major, 4);
SB_PIN(sb_manifest, abi_minor, 6);
SB_PIN(sb_manifest, id, 8);
SB_PIN(sb_manifest, version, 16);
SB_PIN(sb_manifest, kind, 24);
SB_PIN(sb_manifest, reserved0, 28);
SB_PIN(sb_manifest, capabilities, 32);
SB_PIN(sb_manifest, name, 40);
SB_PIN(sb_manifest, description, 48);
SB_PIN(sb_manifest, vendor, 56);

SB_SIZE(sb_diag, 56);
SB_PIN(sb_diag, severity, 4);
SB_PIN(sb_diag, summary, 8);
SB_PIN(sb_diag, detail, 24);
SB_PIN(sb_diag, field_path, 40);

SB_SIZE(sb_emit, 40);
SB_PIN(sb_emit, kind, 4);
SB_PIN(sb_emit, key, 8);
SB_PIN(sb_emit, data, 24);

SB_SIZE(sb_http_header, 32);
SB_SIZE(sb_http_request, 72);
SB_PIN(sb_http_request, header_count, 4);
SB_PIN(sb_http_request, method, 8);
SB_PIN(sb_http_request, url, 24);
SB_PIN(sb_http_request, headers, 40);
SB_PIN(sb_http_request, body, 48);
SB_PIN(sb_http_request, timeout_ms, 64);
SB_PIN(sb_http_request, flags, 68);

SB_SIZE(sb_http_response, 56);
SB_PIN(sb_http_response, status, 4);
SB_PIN(sb_http_response, headers, 8);
SB_PIN(sb_http_response, body, 32);

SB_SIZE(sb_read_request, 40);
SB_PIN(sb_read_request, max_records, 4);
SB_PIN(sb_read_request, stream, 8);
SB_PIN(sb_read_request, state, 24);

SB_SIZE(sb_write_request, 72);
SB_PIN(sb_write_request, entity, 8);
SB_PIN(sb_write_request, idempotency_key, 24);
SB_PIN(sb_write_request, external_id, 40);
SB_PIN(sb_write_request, record, 56);

SB_SIZE(sb_host_api, 112);
SB_PIN(sb_host_api, abi_major, 4);
SB_PIN(sb_host_api, abi_minor, 6);
SB_PIN(sb_host_api, log, 8);
SB_PIN(sb_host_api, metric, 16);
SB_PIN(sb_host_api, emit, 24);
SB_PIN(sb_host_api, diag, 32);
SB_PIN(sb_host_api, secret_get, 40);
SB_PIN(sb_host_api, http, 48);
SB_PIN(sb_host_api, state_get, 56);
SB_PIN(sb_host_api, state_put, 64);
SB_PIN(sb_host_api, buf_release, 72);
SB_PIN(sb_host_api, clock_unix_ns, 80);
SB_PIN(sb_host_api, clock_monotonic_ns, 88);
SB_PIN(sb_host_api, cancelled, 96);
SB_PIN(sb_host_api, deadline_ns, 104);

/* ABI 1.1 appended `fetch` at 88: a 1.0 plugin's vtable is the first 88 bytes. */
SB_SIZE(sb_plugin_vtable, 96);
SB_PIN(sb_plugin_vtable, spec, 8);
SB_PIN(sb_plugin_vtable, validate_config, 16);
SB_PIN(sb_plugin_vtable, open, 24);
SB_PIN(sb_plugin_vtable, close, 32);
SB_PIN(sb_plugin_vtable, check_connection, 40);
SB_PIN(sb_plugin_vtable, discover, 48);
SB_PIN(sb_plugin_vtable, read, 56);
SB_PIN(sb_plugin_vtable, write, 64);
SB_PIN(sb_plugin_vtable, handle_webhook, 72);
SB_PIN(sb_plugin_vtable, on_event, 80);
SB_PIN(sb_plugin_vtable, fetch, 88);

/* ABI 1.1 */
SB_SIZE(sb_fetch_request, 56);
SB_PIN(sb_fetch_request, entity, 8);
SB_PIN(sb_fetch_request, external_id, 24);
SB_PIN(sb_fetch_request, event_type, 40);

SB_SIZE(sb_init_args, 24);
SB_PIN(sb_init_args, host, 8);
SB_PIN(sb_init_args, call, 16);
SB_SIZE(sb_init_result, 16);
SB_PIN(sb_init_result, abi_minor, 4);
SB_PIN(sb_init_result, vtable, 8);
#endif

/* ISO C forbids an empty translation unit. */
typedef int sb_abi_layout_pinned;
