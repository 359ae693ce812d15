/* placeholder, filled below */
#include <stddef.h>
#include "lgspctl.h"
int cmd_reconcile(ctl_t *ctl, int argc, char **argv) { (void) ctl; (void) argc; (void) argv; return 2; }
