#ifndef CP_IDCODE_H
#define CP_IDCODE_H

#include <stddef.h>

/*
 * Agency identity codes (SPEC §3).  Two grammars are in use:
 *   current  H26, H26.107, H26.107.05 (level-1 group first, <= 35 chars)
 *   legacy   DDD.DD.DD.XNN, e.g. 000.00.18.G12 (level-1 group last)
 * Pure functions: no database, no allocation.
 */

#define CP_IDCODE_MAX  35

typedef enum {
    CP_IDCODE_INVALID = 0,
    CP_IDCODE_CURRENT,
    CP_IDCODE_LEGACY,
} cp_idcode_kind_t;

/* Which grammar code follows; on CP_IDCODE_INVALID, why (when not NULL)
 * names the bad group: "000.0X.00.H26": group 2 "0X" must be 2 digits */
cp_idcode_kind_t cp_idcode_check(const char *code, char *why, size_t size);

/* The parent code by the code's own grammar: current drops the last group,
 * legacy zeroes the most specific non-zero group.  0 with the parent in
 * out, 1 when the code is a level-1 code (no parent), -1 when code is not
 * valid or out is too small. */
int cp_idcode_parent(const char *code, char *out, size_t size);

#endif /* CP_IDCODE_H */
