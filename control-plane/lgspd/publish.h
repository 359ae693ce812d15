#ifndef LGSPD_PUBLISH_H
#define LGSPD_PUBLISH_H

#include <stdint.h>

#include "lgspd.h"

/* Publish the first snapshot of this run (generation past any on disk). */
int lgspd_publish_start(lgspd_t *d);

/* Once per loop tick: republish when lgsp.db changed, a date came due, or
 * a retry is due.  Cheap otherwise (one PRAGMA). */
void lgspd_publish_cron(lgspd_t *d);

/* lgspd's own writes to lgsp.db (through d->db) do not move
 * PRAGMA data_version on that connection: whoever makes one calls this. */
void lgspd_publish_request(void);

uint64_t lgspd_publish_generation(void);

#endif /* LGSPD_PUBLISH_H */
