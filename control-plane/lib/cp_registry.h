#ifndef CP_REGISTRY_H
#define CP_REGISTRY_H

#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>

#include "cp_idcode.h"
#include "cp_valid.h"

/*
 * Lookups and JSON views of registry objects, shared by the lgspctl nouns
 * (and usable by lgspd).  Lookups return 1 found, 0 not found, -1 on a
 * database error (message already printed).
 */

typedef struct {
    long long  id;
    char       code[CP_IDCODE_MAX + 1];     /* canonical */
    int        closed;
} cp_agency_ref_t;

typedef struct {
    long long  id;
    char       ident[CP_SYSTEM_ID_MAX + 1];
    long long  agency_id;
    int        agency_closed;
    int        suspended;
    int        security_level;              /* 0: none */
    int        committed;                   /* Form 03 on record */
    int        allow_link_local;            /* its URLs may point there */
} cp_system_ref_t;

typedef struct {
    long long  id;
    char       code[CP_SERVICE_CODE_MAX + 1];
    long long  provider_id;
    int        suspended;
    int64_t    end_at;                      /* 0: none */
    int        provider_closed;             /* provider's agency closed */
    int        provider_allow_link_local;   /* cp_system_ref_t's, of it */
} cp_service_ref_t;

typedef struct {
    long long  id;
    long long  service_id;
    char       version[CP_VERSION_MAX + 1];
    char       state[16];
    int        suspended;
    int64_t    published_at;
    int64_t    sunset_at;
} cp_version_ref_t;

/* Any code the agency was ever known by (canonical, alias, former). */
int cp_find_agency(sqlite3 *db, const char *code, cp_agency_ref_t *out);
int cp_find_system(sqlite3 *db, const char *ident, cp_system_ref_t *out);
int cp_find_service(sqlite3 *db, const char *code, cp_service_ref_t *out);
int cp_find_version(sqlite3 *db, long long service_id, const char *version,
                    cp_version_ref_t *out);

/* The JSON an operator sees (--json): never a secret.  NULL if gone. */
cJSON *cp_agency_json(sqlite3 *db, long long id);
cJSON *cp_system_json(sqlite3 *db, long long id);
cJSON *cp_version_json(sqlite3 *db, long long id);
cJSON *cp_service_json(sqlite3 *db, long long id);   /* with versions */
cJSON *cp_grant_json(sqlite3 *db, long long id);

/* A row for the change log: cp_row_json() without secrets, and with
 * "upstream_credential": true/false where a version carries one. */
char *cp_change_row(sqlite3 *db, const char *table, long long id);

/* Record a change inside the open transaction: after is read from the row
 * now; before is freed.  0 or -1 (message printed). */
int cp_record(sqlite3 *db, const char *table, long long id,
              const char *object, const char *action, char *before);

/* Print one JSON document (and free it). */
void cp_json_print(cJSON *doc);

#endif /* CP_REGISTRY_H */
