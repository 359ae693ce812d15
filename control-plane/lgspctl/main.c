/*
 * lgspctl: the operators' tool.  `lgspctl NOUN VERB [ARGS] [--json]`.
 * main() takes the global options, then hands the rest to the command.
 */

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_store.h"
#include "cp_util.h"
#include "cp_valid.h"

static const ctl_command_t commands[] = {
    { "init", "create the home, the registry and the first signing key",
      cmd_init, "lgspctl init [--gateway-group GROUP]" },
    { "agency", "agencies and their identity codes", cmd_agency,
      "lgspctl agency add CODE --name NAME [--parent CODE] [--alias CODE]\n"
      "lgspctl agency rename CODE --name NAME | --code NEWCODE\n"
      "lgspctl agency close CODE --reason TEXT\n"
      "lgspctl agency list" },
    { "system", "information systems (HTTT/CSDL) of agencies", cmd_system,
      "lgspctl system add ID --agency CODE --name NAME [--health-url URL]\n"
      "        [--poll-interval SECONDS] [--security-level N]"
      " [--allow-link-local]\n"
      "lgspctl system set ID [--health-url URL|none] [--poll-interval S]\n"
      "        [--allow-link-local | --no-allow-link-local]\n"
      "lgspctl system commitment ID --signed-by NAME --date YYYY-MM-DD\n"
      "lgspctl system commitment ID --form FORM03.json  |  --form F --print-form\n"
      "lgspctl system suspend|resume ID --reason TEXT\n"
      "lgspctl system list" },
    { "service", "services and their versions", cmd_service,
      "lgspctl service add CODE --provider SYSTEM --name NAME --upstream URL\n"
      "        [--version V] [--sandbox-upstream URL] [--methods GET,POST]\n"
      "        [--rate N/s] [--burst N] [--health-url URL] [--timeout S]\n"
      "        [--upstream-header-file FILE|-] [--body-limit BYTES]\n"
      "        [--allow-link-local]\n"
      "lgspctl service add --form FORM01.json [--upstream-header-file FILE|-]\n"
      "        [--allow-link-local]\n"
      "lgspctl service add --form FORM01.json --print-form\n"
      "lgspctl service version add CODE/VERSION --upstream URL [options as"
      " for add]\n"
      "lgspctl service set CODE/VERSION [--rate N/s] [--burst N]"
      " [--upstream URL]\n"
      "        [--sandbox-upstream URL|none] [--methods M,...] [--timeout S]\n"
      "        [--body-limit B] [--health-url URL|none]"
      " [--upstream-header-file F|-]\n"
      "        [--no-upstream-header] [--fail-fast on|off]"
      " [--allow-link-local]\n"
      "lgspctl service publish CODE/VERSION [--env sandbox|production]\n"
      "lgspctl service deprecate CODE/VERSION --sunset YYYY-MM-DD"
      " [--successor V]\n"
      "        [--force --reason TEXT]\n"
      "lgspctl service retire CODE/VERSION [--force --reason TEXT]\n"
      "lgspctl service end CODE --date YYYY-MM-DD [--force --reason TEXT]\n"
      "lgspctl service suspend|resume CODE[/VERSION] --reason TEXT\n"
      "lgspctl service list" },
    { "request", "access requests (Form 02), answered within 5 working days",
      cmd_request,
      "lgspctl request add --consumer SYSTEM --service CODE/VERSION"
      " [--env ENV]\n"
      "        --purpose TEXT [--scope TEXT]\n"
      "lgspctl request add --form FORM02.json [--print-form]\n"
      "lgspctl request list [--overdue]\n"
      "lgspctl request approve ID [--rate N/s] [--burst N] [--quota N/day]"
      " [--by NAME]\n"
      "lgspctl request reject ID --reason TEXT [--by NAME]" },
    { "grant", "consumer access to a service version", cmd_grant,
      "lgspctl grant add --consumer SYSTEM --service CODE/VERSION --env ENV\n"
      "        [--rate N/s] [--burst N] [--quota N/day]\n"
      "lgspctl grant set ID [--rate N/s] [--burst N] [--quota N/day|none]\n"
      "lgspctl grant suspend|resume ID --reason TEXT\n"
      "lgspctl grant revoke ID\n"
      "lgspctl grant list [--consumer CODE|SYSTEM] [--provider CODE|SYSTEM]" },
    { "credential", "client credentials of a system (token endpoint)",
      cmd_credential,
      "lgspctl credential issue SYSTEM [--env sandbox|production]\n"
      "lgspctl credential revoke CLIENT_ID\n"
      "lgspctl credential list [--system ID]" },
    { "key", "the platform's token signing keys", cmd_key,
      "lgspctl key rotate [--alg RS256|ES256]\n"
      "lgspctl key revoke KID --reason TEXT\n"
      "lgspctl key list" },
    { "issuer", "trusted external token issuers (VDXP, a city SSO)",
      cmd_issuer,
      "lgspctl issuer add ISS --jwks FILE|URL --audience AUD [--env ENV]\n"
      "    [--system-claim CLAIM]\n"
      "lgspctl issuer list\n"
      "lgspctl issuer remove ID" },
    { "health", "connection status of systems and service versions",
      cmd_health,
      "lgspctl health show [SYSTEM]\n"
      "lgspctl health history SYSTEM|CODE/VERSION [--since TIME] [--raw]" },
    { "incident", "incidents: targets that went down, and for how long",
      cmd_incident, "lgspctl incident list [--open] [--since TIME]" },
    { "audit", "the audit log: list, export, seal, verify", cmd_audit,
      "lgspctl audit list [--since TIME] [--until TIME] [--consumer CODE|SYSTEM]\n"
      "    [--provider CODE|SYSTEM] [--service CODE[/VERSION]] [--result 00|01]\n"
      "    [--transaction ID] [--request-id ID] [--limit N] [--json]\n"
      "lgspctl audit export --format csv|json [filters as for list]\n"
      "lgspctl audit seal\n"
      "lgspctl audit verify" },
    { "report", "calls per agency and service version, by day or month",
      cmd_report,
      "lgspctl report daily|monthly [--date YYYY-MM-DD] [--format"
      " table|json|csv]\n"
      "        [--env production|sandbox]" },
    { "reconcile", "compare a partner's list of transactions with ours",
      cmd_reconcile,
      "lgspctl reconcile FILE.csv [--as consumer|provider CODE|SYSTEM]\n"
      "        [--since TIME] [--until TIME]" },
    { "notice", "maintenance and lifecycle notices to the agencies",
      cmd_notice,
      "lgspctl notice add --kind maintenance --start TIME --end TIME"
      " --text TEXT\n"
      "        [--target CODE[/VERSION]] [--force --reason TEXT]\n"
      "lgspctl notice list [--all]" },
    { "log", "the operators' change log", cmd_log,
      "lgspctl log [--since TIME]" },
    { "backup", "copy the registry while lgspd runs", cmd_backup,
      "lgspctl backup FILE" },
    { "restore", "bring a backup back, keeping final states and ids since",
      cmd_restore,
      "lgspctl restore FILE" },
    { "status", "what the control plane sees", cmd_status,
      "lgspctl status [--json]" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const ctl_command_t *
ctl_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

int ctl_usage_shown;

int
ctl_usage(const ctl_command_t *cmd)
{
    ctl_usage_shown = 1;
    fprintf(stderr, "usage:\n");
    for (const char *p = cmd->usage; *p; ) {
        size_t n = strcspn(p, "\n");
        fprintf(stderr, "  %.*s\n", (int) n, p);
        p += n + (p[n] == '\n');
    }
    return CP_EXIT_USAGE;
}

static void
help(FILE *out)
{
    fprintf(out,
            "usage: lgspctl [--db PATH] [--json] NOUN VERB [ARGS]\n\n"
            "  --db PATH  the registry (default $LGSP_HOME/lgsp.db;"
            " LGSP_HOME defaults to ./var)\n"
            "  --json     print one JSON document on stdout\n\n"
            "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nVerbs:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        for (const char *p = commands[i].usage; *p; ) {
            size_t n = strcspn(p, "\n");
            fprintf(out, "  %.*s\n", (int) n, p);
            p += n + (p[n] == '\n');
        }
    }
    fprintf(out,
            "\nExit status: 0 success, 1 refused (stderr says why),"
            " 2 bad usage.\n"
            "Changes are recorded with the OS user and $LGSP_OPERATOR.\n"
            "A system's upstream and health URLs may not point at"
            " link-local, cloud metadata\n"
            "or unspecified addresses (169.254.0.0/16, fe80::/10,"
            " 0.0.0.0, ::, in any spelling)\n"
            "unless the system is allowed with --allow-link-local"
            " (recorded in the change log).\n");
}

int
ctl_open(ctl_t *ctl)
{
    const char *why;

    if (access(ctl->db_path, F_OK) != 0) {
        cp_err("%s: no registry; run \"lgspctl init\" first", ctl->db_path);
        return -1;
    }
    ctl->db = cp_db_open(ctl->db_path, 0);
    if (ctl->db == NULL) {
        return -1;
    }
    if (cp_db_version(ctl->db) > cp_db_latest()) {
        cp_err("%s: the database is newer than this lgspctl", ctl->db_path);
        return -1;
    }
    if (cp_db_migrate(ctl->db, &why) != 0) {
        cp_err("%s: %s", ctl->db_path, why);
        return -1;
    }
    return 0;
}

int
ctl_lgspd_pid(const ctl_t *ctl)
{
    char   path[PATH_MAX + 32], *buf;
    long   pid;

    if (cp_home_path(&ctl->home, "run/lgspd.pid", path, sizeof(path)) != 0) {
        return 0;
    }
    buf = cp_read_file(path, 32, NULL);
    if (buf == NULL) {
        return 0;
    }
    pid = strtol(buf, NULL, 10);
    free(buf);
    if (pid <= 0 || (kill((pid_t) pid, 0) != 0 && errno == ESRCH)) {
        return 0;
    }
    return (int) pid;
}

/*
 * After a committed change: the data path only sees it once lgspd
 * publishes a snapshot, so say so when lgspd is not running (SPEC §7's
 * one-second promise needs the daemon).  Stderr only: stdout may be JSON.
 */
void
ctl_warn_if_no_lgspd(const ctl_t *ctl)
{
    if (ctl_lgspd_pid(ctl) == 0) {
        fprintf(stderr, "lgspctl: warning: lgspd is not running; the gateway"
                " keeps serving the last published snapshot until it is"
                " started\n");
    }
}

int
main(int argc, char **argv)
{
    ctl_t                ctl;
    const ctl_command_t *cmd;
    char                *args[256], dbdir[PATH_MAX];
    const char          *op;
    int                  n = 0, rc;

    cp_progname = "lgspctl";
    memset(&ctl, 0, sizeof(ctl));
    /* a belt (lgspd does the same): files get explicit modes, and an
     * operator's umask must not widen one that does not */
    umask(077);

    /* --db and --json may stand anywhere: take them out here */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            ctl.json = 1;
        } else if (strcmp(argv[i], "--db") == 0) {
            if (i + 1 >= argc) {
                cp_err("--db needs a path");
                return CP_EXIT_USAGE;
            }
            ctl.db_opt = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            ctl.db_opt = argv[i] + 5;
        } else if (strcmp(argv[i], "--help") == 0
                   || strcmp(argv[i], "-h") == 0)
        {
            if (n == 0) {
                help(stdout);
                return CP_EXIT_OK;
            }
            args[n++] = argv[i];
        } else if (n < 255) {
            args[n++] = argv[i];
        } else {
            cp_err("too many arguments");
            return CP_EXIT_USAGE;
        }
    }
    args[n] = NULL;

    if (n == 0) {
        help(stderr);
        return CP_EXIT_USAGE;
    }
    cmd = ctl_find(args[0]);
    if (cmd == NULL) {
        cp_err("unknown command \"%s\" (lgspctl --help lists them)",
               args[0]);
        return CP_EXIT_USAGE;
    }

    if (ctl.db_opt != NULL) {
        snprintf(dbdir, sizeof(dbdir), "%s", ctl.db_opt);
        if (cp_home_resolve(&ctl.home, dirname(dbdir)) != 0
            || cp_path(ctl.db_path, sizeof(ctl.db_path), "%s", ctl.db_opt))
        {
            cp_err("--db: path too long");
            return CP_EXIT_USAGE;
        }
    } else if (cp_home_resolve(&ctl.home, NULL) != 0
               || cp_home_path(&ctl.home, "lgsp.db", ctl.db_path,
                               sizeof(ctl.db_path)) != 0)
    {
        cp_err("LGSP_HOME: path too long");
        return CP_EXIT_USAGE;
    }
    if (cp_home_path(&ctl.home, "keys", ctl.keys_dir,
                     sizeof(ctl.keys_dir)) != 0)
    {
        cp_err("LGSP_HOME: path too long");
        return CP_EXIT_USAGE;
    }

    /* it goes into the change log of every change */
    op = getenv("LGSP_OPERATOR");
    if (op != NULL && *op != '\0'
        && cp_text_arg("environment", "$LGSP_OPERATOR", op,
                       CP_TEXT_MAX, 0) != 0)
    {
        return CP_EXIT_USAGE;
    }

    rc = cmd->exec(&ctl, n, args);
    if (ctl.db != NULL) {
        /* rows this command changed in the registry (audit.db and
         * health.db have connections of their own) */
        if (rc == CP_EXIT_OK && sqlite3_total_changes(ctl.db) > 0
            && strcmp(cmd->name, "init") != 0)
        {
            ctl_warn_if_no_lgspd(&ctl);
        }
        sqlite3_close(ctl.db);
    }
    return rc;
}
