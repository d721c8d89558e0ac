/*
 * example-c: a complete connector in plain C, built against nothing but
 * switchboard/plugin.h. It serves a generated list of accounts (read, with a
 * resumable cursor), accepts idempotent writes into memory, and turns a
 * webhook into an event. Partners copy it as a starting point.
 *
 * Builds with the package (swift build) and on its own:
 *   cc -shared -fPIC -I PluginSDK/include -o example_c.so Plugins/examples/example-c/example_c.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/plugin.h"

/* The host's table, immutable for the life of the process. */
static const sb_host_api *host;

/* Per-connection state: everything lives in the instance, never in globals. */
typedef struct written {
    char *key;        /* idempotency key */
    char *external_id;
} written;

struct sb_instance {
    long accounts;    /* how many accounts the source holds */
    written *writes;  /* idempotency ledger of this instance */
    size_t write_count;
    size_t write_cap;
    long next_id;
};

static sb_str str_of(const char *s) {
    sb_str out;
    out.ptr = s;
    out.len = strlen(s);
    return out;
}

static void report(sb_call *call, const char *summary, const char *field_path) {
    sb_diag d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.severity = SB_SEVERITY_ERROR;
    d.summary = str_of(summary);
    d.field_path = str_of(field_path);
    host->diag(call, &d);
}

static sb_status emit(sb_call *call, uint32_t kind, const char *key, const char *data, size_t data_len) {
    sb_emit e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.kind = kind;
    e.key = str_of(key);
    e.data.ptr = (const uint8_t *)data;
    e.data.len = data_len;
    return host->emit(call, &e);
}

/* Finds `"name": <integer>` in a flat JSON object. Returns 1 if found, 0 if
 * absent, -1 if present but not a non-negative integer. A real connector
 * would use a JSON library; this one stays dependency-free on purpose. */
static int json_int_field(sb_bytes json, const char *name, long *out) {
    char pattern[64];
    char *text;
    const char *hit;
    int result = 0;
    snprintf(pattern, sizeof pattern, "\"%s\"", name);
    text = (char *)malloc(json.len + 1);
    if (!text) return -1;
    if (json.len) memcpy(text, json.ptr, json.len);
    text[json.len] = '\0';
    hit = strstr(text, pattern);
    if (hit) {
        char *end;
        hit += strlen(pattern);
        while (*hit == ' ' || *hit == ':' || *hit == '\t') hit++;
        *out = strtol(hit, &end, 10);
        result = (end == hit || *out < 0) ? -1 : 1;
    }
    free(text);
    return result;
}

static const char SPEC[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"type\":\"object\",\"additionalProperties\":false,"
    "\"properties\":{\"accounts\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100000,"
    "\"description\":\"How many accounts the source holds\"}},"
    "\"required\":[\"accounts\"]}";

static sb_status spec(sb_call *call) {
    return emit(call, SB_EMIT_SPEC, "", SPEC, sizeof SPEC - 1);
}

static sb_status validate_config(sb_call *call, sb_bytes config) {
    long accounts;
    int found = json_int_field(config, "accounts", &accounts);
    if (found == 0) {
        report(call, "missing required field", "accounts");
        return SB_CONFIG;
    }
    if (found < 0 || accounts > 100000) {
        report(call, "must be an integer from 0 to 100000", "accounts");
        return SB_CONFIG;
    }
    return SB_OK;
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    sb_instance *inst;
    sb_status st = validate_config(call, config);
    if (st != SB_OK) return st;
    inst = (sb_instance *)calloc(1, sizeof *inst);
    if (!inst) return SB_RETRY;
    json_int_field(config, "accounts", &inst->accounts);
    inst->next_id = 1000;
    *out = inst;
    return SB_OK;
}

static void close_instance(sb_instance *inst, sb_call *call) {
    size_t i;
    (void)call;
    for (i = 0; i < inst->write_count; i++) {
        free(inst->writes[i].key);
        free(inst->writes[i].external_id);
    }
    free(inst->writes);
    free(inst);
}

static sb_status check_connection(sb_instance *inst, sb_call *call) {
    (void)inst;
    host->log(call, SB_LOG_INFO, str_of("example-c source is reachable"), str_of(""));
    return SB_OK;
}

static const char CATALOG[] =
    "{\"streams\":[{\"name\":\"accounts\",\"entity\":\"Account\",\"cursor\":\"sequence\"}],"
    "\"writes\":[\"Account\"],\"events\":[\"opportunity.won\"]}";

static sb_status discover(sb_instance *inst, sb_call *call) {
    (void)inst;
    return emit(call, SB_EMIT_CATALOG, "", CATALOG, sizeof CATALOG - 1);
}

/* Emits the accounts after the cursor, then the new cursor. */
static sb_status read_stream(sb_instance *inst, sb_call *call, const sb_read_request *req) {
    long from = 0, i;
    char record[256], cursor[32];
    if (req->stream.len != 8 || memcmp(req->stream.ptr, "accounts", 8) != 0) {
        report(call, "unknown stream (this connector has only \"accounts\")", "stream");
        return SB_CONFIG;
    }
    if (req->state.len > 0 && json_int_field(req->state, "next", &from) < 0) {
        report(call, "saved cursor is not {\"next\": N}", "state.next");
        return SB_FATAL;
    }
    for (i = from; i < inst->accounts; i++) {
        int n;
        sb_status st;
        if (host->cancelled(call)) return SB_CANCELLED;
        n = snprintf(record, sizeof record,
                     "{\"external_id\":\"acc-%ld\",\"name\":\"Account %ld\","
                     "\"updated_at\":\"2026-01-01T00:00:00Z\"}", i + 1, i + 1);
        st = emit(call, SB_EMIT_RECORD, "Account", record, (size_t)n);
        if (st != SB_OK) return st;
        if (req->max_records && (unsigned long)(i + 1 - from) >= req->max_records) { i++; break; }
    }
    {
        int n = snprintf(cursor, sizeof cursor, "{\"next\":%ld}", i);
        return emit(call, SB_EMIT_STATE, "accounts", cursor, (size_t)n);
    }
}

static char *dup_str(sb_str s) {
    char *out = (char *)malloc(s.len + 1);
    if (!out) return NULL;
    if (s.len) memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

/* Upserts into memory; the same idempotency key returns the same id, and a known
   external id is an update of that record (a later version of it), not a new one. */
static sb_status write_record(sb_instance *inst, sb_call *call, const sb_write_request *req) {
    size_t i;
    char id[32];
    if (req->idempotency_key.len == 0) {
        report(call, "a write needs an idempotency key", "idempotency_key");
        return SB_FATAL;
    }
    for (i = 0; i < inst->write_count; i++) {
        written *w = &inst->writes[i];
        if (strlen(w->key) == req->idempotency_key.len &&
            memcmp(w->key, req->idempotency_key.ptr, req->idempotency_key.len) == 0)
            return emit(call, SB_EMIT_WRITE_RESULT, w->external_id, "", 0);
    }
    if (inst->write_count == inst->write_cap) {
        size_t cap = inst->write_cap ? inst->write_cap * 2 : 16;
        written *grown = (written *)realloc(inst->writes, cap * sizeof *grown);
        if (!grown) return SB_RETRY;
        inst->writes = grown;
        inst->write_cap = cap;
    }
    if (req->external_id.len && req->external_id.len < sizeof id) {
        memcpy(id, req->external_id.ptr, req->external_id.len);
        id[req->external_id.len] = '\0';
    } else {
        snprintf(id, sizeof id, "ext-%ld", inst->next_id++);
    }
    inst->writes[inst->write_count].key = dup_str(req->idempotency_key);
    inst->writes[inst->write_count].external_id = dup_str(str_of(id));
    if (!inst->writes[inst->write_count].key || !inst->writes[inst->write_count].external_id) {
        free(inst->writes[inst->write_count].key);
        free(inst->writes[inst->write_count].external_id);
        return SB_RETRY;
    }
    inst->write_count++;
    return emit(call, SB_EMIT_WRITE_RESULT, id, "", 0);
}

/* Turns a POST whose JSON body is a won deal (a canonical Opportunity) into one opportunity.won event. */
static sb_status handle_webhook(sb_instance *inst, sb_call *call, const sb_http_request *req) {
    (void)inst;
    if (req->body.len == 0 || req->body.ptr[0] != '{') {
        report(call, "webhook body must be a JSON object", "body");
        return SB_FATAL;
    }
    return emit(call, SB_EMIT_EVENT, "opportunity.won", (const char *)req->body.ptr, req->body.len);
}

/* Designated initialisers: a newer minor appends slots (1.1 added fetch), and
 * the ones this plugin does not name stay NULL ("not implemented") without an
 * edit, even under -Wmissing-field-initializers. */
static const sb_plugin_vtable VTABLE = {
    .struct_size = sizeof(sb_plugin_vtable),
    .spec = spec,
    .validate_config = validate_config,
    .open = open_instance,
    .close = close_instance,
    .check_connection = check_connection,
    .discover = discover,
    .read = read_stream,
    .write = write_record,
    .handle_webhook = handle_webhook,
    /* on_event: connectors do not take events */
};

static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), SB_ABI_MAJOR, SB_ABI_MINOR,
    "example-c", "1.0.0", SB_KIND_CONNECTOR, 0,
    SB_CAP_CHECK | SB_CAP_DISCOVER | SB_CAP_READ | SB_CAP_WRITE | SB_CAP_WEBHOOK,
    "Example connector (C)", "Generated accounts, idempotent writes, webhooks", "Switchboard"
};

SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }

SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
    if (args->host_abi_major != SB_ABI_MAJOR) return SB_FATAL;
    host = args->host;
    result->abi_minor = sb_negotiate_minor(args->host_abi_minor);
    result->vtable = &VTABLE;
    return SB_OK;
}
