/*
 * sandbox: a generated professional-services firm for demos and tests, in the
 * spirit of Airbyte's faker source. One plugin, three roles chosen by config:
 *
 *   {"role": "crm", "seed": 7, "accounts": 40, "opportunities": 60, "bad": 3}
 *     streams: accounts (Account records), opportunities (opportunity.won events,
 *     `bad` of them schema-invalid on purpose); accepts write-backs.
 *   {"role": "psa", "entries_per_project": 4}
 *     accepts Project writes (refuses billing_method "retainer": a permanent error);
 *     stream time: time.approved events for the projects it holds.
 *   {"role": "erp", "flaky_percent": 15}
 *     accepts Account and Invoice writes, a share of them failing with RETRY and
 *     a Retry-After (the flaky endpoint); streams invoices (invoice.posted) and
 *     payments (payment.received for two invoices in three).
 *
 * State lives in the instance (memory): a demo, not a system of record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbkit.h"

static const sb_host_api *host;

enum role { CRM, PSA, ERP };

typedef struct item {
    char key[80];          /* idempotency key */
    char id[40];           /* our external id */
    char entity[24];
    char account[64];
    char currency[4];
    char amount[24];
    char origin[64];       /* external id the record had at its source */
} item;

struct sb_instance {
    enum role role;
    long seed, accounts, opportunities, bad, per_project, flaky;
    unsigned long rng;
    item *items;
    size_t count, cap;
    long next_id;
};




/* Copies the bytes into a NUL-terminated string (caller frees). */

/* First "key":"value" string member in a JSON text (flat records only). */


static unsigned long next_random(sb_instance *in) {
    in->rng = in->rng * 6364136223846793005UL + 1442695040888963407UL;
    return in->rng >> 33;
}

static sb_status spec(sb_call *call) {
    return sbkit_emit(host, call, SB_EMIT_SPEC, "",
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\",\"required\":[\"role\"],"
        "\"properties\":{\"role\":{\"enum\":[\"crm\",\"psa\",\"erp\"]},\"seed\":{\"type\":\"integer\"},"
        "\"accounts\":{\"type\":\"integer\",\"minimum\":1},\"opportunities\":{\"type\":\"integer\",\"minimum\":0},"
        "\"bad\":{\"type\":\"integer\",\"minimum\":0},\"entries_per_project\":{\"type\":\"integer\",\"minimum\":1},"
        "\"flaky_percent\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":90}}}");
}

static sb_status validate_config(sb_call *call, sb_bytes config) {
    char *json = sbkit_cstr(config.ptr, config.len), role[16] = "";
    sb_status st = SB_OK;
    static const char *const names[] = {"role", "seed", "accounts", "opportunities", "bad", "entries_per_project", "flaky_percent", NULL};
    if (!json) return SB_RETRY;
    if (!sbkit_check_config(host, call, json, names, "snnnnnn")) { free(json); return SB_CONFIG; }
    if (!sbkit_find_string(json, "role", role, sizeof role)) { sbkit_report(host, call, "required: crm, psa or erp", "role"); st = SB_CONFIG; }
    else if (strcmp(role, "crm") && strcmp(role, "psa") && strcmp(role, "erp")) { sbkit_report(host, call, "must be crm, psa or erp", "role"); st = SB_CONFIG; }
    if (sbkit_find_long(json, "flaky_percent", 0) > 90) { sbkit_report(host, call, "must be at most 90", "flaky_percent"); st = SB_CONFIG; }
    free(json);
    return st;
}

static sb_status open_instance(sb_call *call, sb_bytes config, sb_instance **out) {
    char *json = sbkit_cstr(config.ptr, config.len), role[16] = "";
    sb_instance *in;
    (void)call;
    if (!json) return SB_RETRY;
    in = (sb_instance *)calloc(1, sizeof *in);
    if (!in) { free(json); return SB_RETRY; }
    sbkit_find_string(json, "role", role, sizeof role);
    in->role = !strcmp(role, "crm") ? CRM : !strcmp(role, "psa") ? PSA : ERP;
    in->seed = sbkit_find_long(json, "seed", 7);
    in->accounts = sbkit_find_long(json, "accounts", 40);
    in->opportunities = sbkit_find_long(json, "opportunities", 60);
    in->bad = sbkit_find_long(json, "bad", 3);
    in->per_project = sbkit_find_long(json, "entries_per_project", 4);
    in->flaky = sbkit_find_long(json, "flaky_percent", 0);
    in->rng = (unsigned long)in->seed * 2654435761UL + 1;
    in->next_id = 1;
    free(json);
    *out = in;
    return SB_OK;
}

static void close_instance(sb_instance *in, sb_call *call) { (void)call; free(in->items); free(in); }

static sb_status check_connection(sb_instance *in, sb_call *call) { (void)in; (void)call; return SB_OK; }

static sb_status discover(sb_instance *in, sb_call *call) {
    static const char *catalogs[] = {
        "{\"streams\":[{\"name\":\"accounts\",\"entity\":\"Account\"},{\"name\":\"opportunities\",\"entity\":\"Opportunity\"}],"
        "\"writes\":[\"Account\",\"Opportunity\",\"Invoice\",\"Payment\"],\"events\":[\"opportunity.won\"]}",
        "{\"streams\":[{\"name\":\"time\",\"entity\":\"TimeEntry\"}],\"writes\":[\"Project\",\"Task\"],\"events\":[\"time.approved\"]}",
        "{\"streams\":[{\"name\":\"invoices\",\"entity\":\"Invoice\"},{\"name\":\"payments\",\"entity\":\"Payment\"}],"
        "\"writes\":[\"Account\",\"Invoice\"],\"events\":[\"invoice.posted\",\"payment.received\"]}",
    };
    return sbkit_emit(host, call, SB_EMIT_CATALOG, "", catalogs[in->role]);
}

static const char *COMPANIES[] = {"Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Wingtip",
                                  "Alpine", "Coho", "Humongous", "Lucerne"};
static const char *SUFFIX[] = {"Advisory GmbH", "Consulting Ltd", "Partners LLP", "Group AG", "Analytics SA"};
static const char *CURRENCIES[] = {"EUR", "EUR", "USD", "GBP"};
static const char *CITIES[] = {"Berlin", "London", "Paris", "Munich", "Vienna", "Zurich"};
static const char *COUNTRIES[] = {"DE", "GB", "FR", "DE", "AT", "CH"};

/* A cursor is {"next": N}: records before N have been emitted and committed. */

static sb_status state(sb_call *call, const char *stream, long next) {
    char buf[48];
    snprintf(buf, sizeof buf, "{\"next\":%ld}", next);
    return sbkit_emit(host, call, SB_EMIT_STATE, stream, buf);
}

static sb_status read_crm(sb_instance *in, sb_call *call, const sb_read_request *req, const char *stream) {
    long i = sbkit_cursor(req), end, limit = req->max_records ? (long)req->max_records : 1000000;
    char rec[1024];
    sb_status st = SB_OK;
    if (!strcmp(stream, "accounts")) {
        for (end = in->accounts; i < end && limit-- > 0 && st == SB_OK; i++) {
            int c = (int)((i + in->seed) % 12), x = (int)(i % 6);
            snprintf(rec, sizeof rec,
                     "{\"external_id\":\"ACC-%ld\",\"updated_at\":\"2026-11-02T09:00:00Z\",\"name\":\"%s %s %ld\","
                     "\"email\":\"finance@%s%ld.example\",\"industry\":\"Professional Services\",\"currency\":\"%s\","
                     "\"billing_address\":{\"street\":\"Main Street %ld\",\"city\":\"%s\",\"country\":\"%s\"},\"status\":\"active\"}",
                     i + 1, COMPANIES[c], SUFFIX[i % 5], i + 1, COMPANIES[c], i + 1, CURRENCIES[i % 4], i + 10, CITIES[x], COUNTRIES[x]);
            st = sbkit_emit(host, call, SB_EMIT_RECORD, "Account", rec);
        }
        return st == SB_OK ? state(call, "accounts", i) : st;
    }
    for (end = in->opportunities; i < end && limit-- > 0 && st == SB_OK; i++) {
        long acc = (i * 7) % in->accounts + 1, amount = 12000 + (long)((i * 7919) % 180) * 1000;
        const char *cur = CURRENCIES[(acc - 1) % 4];
        int bad = in->bad > 0 && i % (in->opportunities / in->bad + 1) == 5;
        const char *billing = i % 23 == 11 ? "retainer" : (i % 3 ? "time_and_materials" : "fixed_price");
        if (bad && (i / 5) % 3 == 0)      /* a stage the canonical model does not know */
            snprintf(rec, sizeof rec, "{\"external_id\":\"OPP-%ld\",\"updated_at\":\"2026-11-20T10:00:00Z\",\"name\":\"Deal %ld\","
                     "\"account\":\"ACC-%ld\",\"stage\":\"closed-won\",\"amount\":{\"amount\":\"%ld.00\",\"currency\":\"%s\"}}",
                     i + 1, i + 1, acc, amount, cur);
        else if (bad && (i / 5) % 3 == 1) /* an impossible date */
            snprintf(rec, sizeof rec, "{\"external_id\":\"OPP-%ld\",\"updated_at\":\"2026-11-20T10:00:00Z\",\"name\":\"Deal %ld\","
                     "\"account\":\"ACC-%ld\",\"stage\":\"won\",\"close_date\":\"2026-13-45\",\"amount\":{\"amount\":\"%ld.00\",\"currency\":\"%s\"}}",
                     i + 1, i + 1, acc, amount, cur);
        else if (bad)                     /* no account: nobody to bill */
            snprintf(rec, sizeof rec, "{\"external_id\":\"OPP-%ld\",\"updated_at\":\"2026-11-20T10:00:00Z\",\"name\":\"Deal %ld\","
                     "\"stage\":\"won\",\"amount\":{\"amount\":\"%ld.00\",\"currency\":\"%s\"}}", i + 1, i + 1, amount, cur);
        else
            snprintf(rec, sizeof rec, "{\"external_id\":\"OPP-%ld\",\"updated_at\":\"2026-11-20T10:00:00Z\",\"name\":\"%s rollout %ld\","
                     "\"account\":\"ACC-%ld\",\"stage\":\"won\",\"close_date\":\"2026-11-20\",\"owner\":\"sales%ld@firm.example\","
                     "\"amount\":{\"amount\":\"%ld.00\",\"currency\":\"%s\"},\"custom\":{\"billing_method\":\"%s\"}}",
                     i + 1, COMPANIES[acc % 12], i + 1, acc, i % 9 + 1, amount, cur, billing);
        st = sbkit_emit(host, call, SB_EMIT_EVENT, "opportunity.won", rec);
    }
    return st == SB_OK ? state(call, "opportunities", i) : st;
}

/* Events derived from written items: item index is the cursor. */
static sb_status read_derived(sb_instance *in, sb_call *call, const sb_read_request *req, const char *stream) {
    long i = sbkit_cursor(req), limit = req->max_records ? (long)req->max_records : 1000000;
    char rec[1024];
    sb_status st = SB_OK;
    for (; i < (long)in->count && limit > 0 && st == SB_OK; i++) {
        item *it = &in->items[i];
        if (in->role == PSA && !strcmp(stream, "time") && !strcmp(it->entity, "Project")) {
            long e;
            for (e = 0; e < in->per_project && st == SB_OK; e++) {
                long hours = 8 + (long)((i * 13 + e * 7) % 33);
                snprintf(rec, sizeof rec,
                         "{\"external_id\":\"TE-%s-%ld\",\"updated_at\":\"2026-11-24T17:00:00Z\",\"project\":\"%s\","
                         "\"resource\":\"RES-%ld\",\"date\":\"2026-11-%02ld\",\"hours\":\"%ld.0\",\"billable\":true,"
                         "\"rate\":{\"amount\":\"150.00\",\"currency\":\"%s\"},\"billable_amount\":{\"amount\":\"%ld.00\",\"currency\":\"%s\"},"
                         "\"status\":\"approved\",\"custom\":{\"account\":\"%s\"}}",
                         it->id, e + 1, it->id, (i + e) % 300 + 1, 16 + e, hours, it->currency, hours * 150, it->currency, it->account);
                st = sbkit_emit(host, call, SB_EMIT_EVENT, "time.approved", rec);
                limit--;
            }
        } else if (in->role == ERP && !strcmp(it->entity, "Invoice")) {
            if (!strcmp(stream, "invoices")) {
                snprintf(rec, sizeof rec,
                         "{\"external_id\":\"%s\",\"updated_at\":\"2026-11-25T08:00:00Z\",\"number\":\"%s\",\"account\":\"%s\","
                         "\"status\":\"posted\",\"issue_date\":\"2026-11-25\",\"due_date\":\"2026-12-25\","
                         "\"total\":{\"amount\":\"%s\",\"currency\":\"%s\"},\"custom\":{\"time_entry\":\"%s\"}}",
                         it->id, it->id, it->account, it->amount, it->currency, it->origin);
                st = sbkit_emit(host, call, SB_EMIT_EVENT, "invoice.posted", rec);
                limit--;
            } else if (!strcmp(stream, "payments") && i % 3 != 2) {
                snprintf(rec, sizeof rec,
                         "{\"external_id\":\"PAY-%ld\",\"updated_at\":\"2026-11-26T08:00:00Z\",\"invoice\":\"%s\",\"account\":\"%s\","
                         "\"amount\":{\"amount\":\"%s\",\"currency\":\"%s\"},\"received_on\":\"2026-11-26\",\"method\":\"bank transfer\"}",
                         i + 1, it->id, it->account, it->amount, it->currency);
                st = sbkit_emit(host, call, SB_EMIT_EVENT, "payment.received", rec);
                limit--;
            }
        }
    }
    return st == SB_OK ? state(call, stream, i) : st;
}

static sb_status read_stream(sb_instance *in, sb_call *call, const sb_read_request *req) {
    char stream[32];
    if (req->stream.len >= sizeof stream) { sbkit_report(host, call, "unknown stream", "stream"); return SB_CONFIG; }
    memcpy(stream, req->stream.ptr, req->stream.len);
    stream[req->stream.len] = 0;
    if (in->role == CRM && (!strcmp(stream, "accounts") || !strcmp(stream, "opportunities"))) return read_crm(in, call, req, stream);
    if ((in->role == PSA && !strcmp(stream, "time")) || (in->role == ERP && (!strcmp(stream, "invoices") || !strcmp(stream, "payments"))))
        return read_derived(in, call, req, stream);
    sbkit_report(host, call, "this role has no such stream", "stream");
    return SB_CONFIG;
}

static sb_status write_record(sb_instance *in, sb_call *call, const sb_write_request *req) {
    char *json, entity[24];
    size_t i;
    item *it;
    if (!req->idempotency_key.len || req->idempotency_key.len >= sizeof it->key) { sbkit_report(host, call, "bad idempotency key", "idempotency_key"); return SB_FATAL; }
    if (req->entity.len >= sizeof entity) { sbkit_report(host, call, "unknown entity", "entity"); return SB_FATAL; }
    memcpy(entity, req->entity.ptr, req->entity.len);
    entity[req->entity.len] = 0;
    for (i = 0; i < in->count; i++)   /* idempotent: the same key is the same record */
        if (strlen(in->items[i].key) == req->idempotency_key.len && !memcmp(in->items[i].key, req->idempotency_key.ptr, req->idempotency_key.len))
            return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, in->items[i].id, "");
    if (in->role == ERP && in->flaky && (long)(next_random(in) % 100) < in->flaky) {
        sbkit_emit(host, call, SB_EMIT_RETRY_AFTER, "", "200");
        sbkit_report(host, call, "ERP API answered 503 Service Unavailable (Retry-After: 0.2 s)", "");
        return SB_RETRY;
    }
    json = sbkit_cstr(req->record.ptr, req->record.len);
    if (!json) return SB_RETRY;
    if (in->role == PSA && !strcmp(entity, "Project") && strstr(json, "\"billing_method\":\"retainer\"")) {
        free(json);
        sbkit_report(host, call, "billing method \"retainer\" is not set up in the PSA (no retainer service item)", "billing_method");
        return SB_FATAL;
    }
    if (in->count == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        item *grown = (item *)realloc(in->items, cap * sizeof *grown);
        if (!grown) { free(json); return SB_RETRY; }
        in->items = grown;
        in->cap = cap;
    }
    it = &in->items[in->count];
    memset(it, 0, sizeof *it);
    memcpy(it->key, req->idempotency_key.ptr, req->idempotency_key.len);
    snprintf(it->entity, sizeof it->entity, "%s", entity);
    if (req->external_id.len && req->external_id.len < sizeof it->id) {
        memcpy(it->id, req->external_id.ptr, req->external_id.len);   /* an update of a record we already hold */
    } else {
        const char *prefix = !strcmp(entity, "Invoice") ? "INV/2026/" : !strcmp(entity, "Project") ? "PRJ-" :
                             !strcmp(entity, "Account") ? (in->role == ERP ? "CUST-" : "ACC-") : "REC-";
        snprintf(it->id, sizeof it->id, "%s%ld", prefix, in->next_id++);
    }
    sbkit_find_string(json, "external_id", it->origin, sizeof it->origin);
    if (!sbkit_find_string(json, "account", it->account, sizeof it->account)) {
        char custom[64];
        if (sbkit_find_string(json, "custom_account", custom, sizeof custom)) snprintf(it->account, sizeof it->account, "%s", custom);
    }
    sbkit_find_string(json, "currency", it->currency, sizeof it->currency);
    sbkit_find_string(json, "amount", it->amount, sizeof it->amount);
    free(json);
    in->count++;
    return sbkit_emit(host, call, SB_EMIT_WRITE_RESULT, it->id, "");
}

static const sb_plugin_vtable VTABLE = {
    sizeof(sb_plugin_vtable), 0, spec, validate_config, open_instance, close_instance,
    check_connection, discover, read_stream, write_record, NULL, NULL, NULL
};

static const sb_manifest MANIFEST = {
    sizeof(sb_manifest), SB_ABI_MAJOR, SB_ABI_MINOR, "sandbox", "1.0.0", SB_KIND_CONNECTOR, 0,
    SB_CAP_CHECK | SB_CAP_DISCOVER | SB_CAP_READ | SB_CAP_WRITE,
    "Sandbox firm (CRM, PSA, ERP)", "A generated 300-person consulting firm for demos and tests", "Switchboard"
};

SB_EXPORT const sb_manifest *switchboard_plugin_manifest(void) { return &MANIFEST; }

SB_EXPORT sb_status switchboard_plugin_init(const sb_init_args *args, sb_init_result *result) {
    host = args->host;
    result->abi_minor = sb_negotiate_minor(args->host_abi_minor);
    result->vtable = &VTABLE;
    return SB_OK;
}
