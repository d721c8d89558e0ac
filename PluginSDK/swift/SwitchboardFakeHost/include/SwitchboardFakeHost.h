/* The fake host of switchboard/fakehost.h behind an opaque handle, for SwitchboardPluginKitTesting
 * (Swift). One implementation serves C tests (the header) and Swift tests (this shim). */
#ifndef SWITCHBOARD_FAKEHOST_SHIM_H
#define SWITCHBOARD_FAKEHOST_SHIM_H
#include <stddef.h>
#include <stdint.h>

typedef struct sbt_host sbt_host;

sbt_host *sbts_new(void);
void sbts_free(sbt_host *h);
int32_t sbts_load(sbt_host *h, const char *path);
/* Starting a plugin linked into the test: fill args/result (sbts_init_sizes), call its init, then adopt. */
void sbts_init_sizes(size_t *args_size, size_t *result_size);
void sbts_prepare(sbt_host *h, void *args, void *result);
int32_t sbts_adopt(sbt_host *h, int32_t status, const void *result);

void sbts_answer(sbt_host *h, const char *method, const char *url_prefix, int status, const char *body, int times);
void sbts_fail(sbt_host *h, const char *method, const char *url_prefix, int32_t status, int times);
void sbts_secret_set(sbt_host *h, const char *name, const char *value);
void sbts_raw_secrets(sbt_host *h, int allowed);
void sbts_state_set(sbt_host *h, const char *key, const char *value);
const char *sbts_state_get(sbt_host *h, const char *key);
void sbts_cancel_after(sbt_host *h, long emits);
void sbts_deadline(sbt_host *h, int64_t monotonic_ns);

int32_t sbts_validate(sbt_host *h, const char *config_json);
int32_t sbts_open(sbt_host *h, const char *config_json);
int32_t sbts_check(sbt_host *h);
int32_t sbts_discover(sbt_host *h);
int32_t sbts_read(sbt_host *h, const char *stream, const char *state_json, uint32_t max_records);
int32_t sbts_write(sbt_host *h, const char *entity, const char *key, const char *external_id, const char *record_json);

/* What the last call captured. Strings stay valid until the next call. */
size_t sbts_emit_count(const sbt_host *h);
void sbts_emit(const sbt_host *h, size_t i, uint32_t *kind, const char **key, const char **data, size_t *len);
size_t sbts_diag_count(const sbt_host *h);
void sbts_diag(const sbt_host *h, size_t i, int32_t *severity, const char **field_path, const char **summary);
size_t sbts_log_count(const sbt_host *h);
void sbts_log(const sbt_host *h, size_t i, int32_t *level, const char **message);
size_t sbts_request_count(const sbt_host *h);
void sbts_request(const sbt_host *h, size_t i, const char **method, const char **url, const char **headers, const char **body,
                  size_t *body_len, int *auth_injected);
#endif
