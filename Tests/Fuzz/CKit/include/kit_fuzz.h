#ifndef KIT_FUZZ_H
#define KIT_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* Feeds switchboard/kit.h's JSON reader one input; what it accepts is written back with the kit's
 * writer, parsed again, and must read the same (types, counts, unescaped strings, number texts).
 * Returns 0, or 1 with the broken invariant in why. *accepted says whether the input parsed, and
 * *rewritten (malloc'd, the caller frees) holds the writer's text for cross-checks by other parsers. */
int kit_fuzz_json(const uint8_t *data, size_t len, int *accepted, char **rewritten, size_t *rewritten_len, char *why, size_t why_cap);

#endif
