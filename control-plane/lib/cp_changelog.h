#ifndef CP_CHANGELOG_H
#define CP_CHANGELOG_H

#include <sqlite3.h>

/*
 * Record one operator change (SPEC §7): the OS user, $LGSP_OPERATOR, the
 * time, the object ("grant:12", "agency:H26.107"), the action and the
 * object's JSON before and after (NULL when it did not exist / no longer
 * does).  Call inside the command's transaction, so the change and its
 * record commit together.  Never pass a secret in before/after.
 */
int cp_changelog(sqlite3 *db, const char *object, const char *action,
                 const char *before, const char *after);

/* The JSON of one row of a table, for before/after: malloc'd, or NULL.
 * Columns whose name is in redact (NULL-terminated list) are left out. */
char *cp_row_json(sqlite3 *db, const char *table, long long id,
                  const char *const *redact);

#endif /* CP_CHANGELOG_H */
