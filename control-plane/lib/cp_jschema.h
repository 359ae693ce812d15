#ifndef CP_JSCHEMA_H
#define CP_JSCHEMA_H

#include <stddef.h>
#include <cjson/cJSON.h>

/*
 * A validator for the subset of JSON Schema (draft 2020-12) that the
 * registration forms use, so lgspctl and any standard validator (the tests
 * run python3-jsonschema over the same files) give the same verdict:
 *   type, enum, const, properties, required, additionalProperties,
 *   items, minItems, maxItems, uniqueItems, minLength, maxLength
 *   (in characters), pattern (POSIX ERE: write patterns in the common part
 *   of ERE and ECMA-262), minimum, maximum, $ref to "#/$defs/NAME";
 *   $schema, $id, $defs, title, description, $comment, format and
 *   examples are annotations.
 * Any other keyword is an error in the schema, never silently ignored.
 *
 * Returns 0 when the instance is valid; -1 with the JSON Pointer of the
 * first value at fault and what is wrong with it ("at" is "" for the
 * document itself); -2 when the schema itself is wrong (why says where).
 */
int cp_jschema_validate(const cJSON *schema, const cJSON *instance,
                        char *at, size_t atsize, char *why, size_t size);

/* Append "/key" (RFC 6901 escaped) to the JSON Pointer path at its length
 * plen, within cap bytes; the new length. */
size_t cp_jschema_push(char *path, size_t plen, size_t cap, const char *key);

#endif /* CP_JSCHEMA_H */
