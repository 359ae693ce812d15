/*
 * The one Check runner: every t/unit/test_*.c exports NAME_suite(), and
 * the Makefile lists them in unit_suites.h.  CK_FORK=no to debug in gdb.
 */

#include <stdlib.h>
#include <check.h>

#define LGSP_SUITE(name)  Suite *name(void);
#include "unit_suites.h"
#undef LGSP_SUITE

int
main(void)
{
    SRunner *sr = NULL;
    int      failed;

#define LGSP_SUITE(name)                                                    \
    if (sr == NULL) {                                                       \
        sr = srunner_create(name());                                        \
    } else {                                                                \
        srunner_add_suite(sr, name());                                      \
    }
#include "unit_suites.h"
#undef LGSP_SUITE

    if (sr == NULL) {
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
