/*
 * lgspctl service ...: what the service verbs (cmd_service.c) and the
 * version lifecycle verbs (cmd_version.c) share.  Private to the two.
 */

#ifndef LGSPCTL_CMD_SERVICE_H
#define LGSPCTL_CMD_SERVICE_H

#include <stdint.h>

#include "lgspctl.h"
#include "cp_registry.h"

int service_usage(void);
int service_begin_route(ctl_t *ctl, const char *what, const char *arg,
    int allow_bare, cp_service_ref_t *s, cp_version_ref_t *v, char *route,
    size_t rsize);
int service_finish_version(ctl_t *ctl, long long vid, const char *route,
    const char *action, char *before);
int service_announce(ctl_t *ctl, const char *kind, const char *target,
    int64_t start, int64_t end, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
int service_check_force(const char *what, int force, const char *reason);

/* cmd_version.c: the lifecycle verbs */
int service_publish(ctl_t *ctl, int argc, char **argv);
int service_deprecate(ctl_t *ctl, int argc, char **argv);
int service_retire(ctl_t *ctl, int argc, char **argv);

#endif
