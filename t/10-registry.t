#!/usr/bin/perl
# The registry through lgspctl (SPEC §2, §3, §5-§7, §12): every verb's happy
# path, refusals (exit 1 with a reason), bad usage (exit 2 with usage),
# --json shapes, the change log, backup and restore.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use LGSP::Test;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = LGSP::Test->new(start => 0);

sub ok_out { my $o = $t->ctl_ok(@_); return $o }
sub json { decode_json($t->ctl_ok('--json', @_)) }
sub refused { $t->ctl_refused(@_); return }
sub bad {
    my $err = $t->ctl_bad(@_);
    like($err, qr/^usage:/m, '  and shows usage');
}
# a city date (UTC+7) N days from now
sub city_date { strftime('%Y-%m-%d', gmtime(time + 7 * 3600 + $_[0] * 86400)) }

# --help lists every verb
my ($rc, $help) = $t->ctl('--help');
is($rc, 0, '--help');
for my $v ('agency add', 'agency rename', 'agency close', 'agency list',
           'system add', 'system commitment', 'system suspend|resume', 'system list',
           'service add', 'service version add', 'service set', 'service publish',
           'service deprecate', 'service retire', 'service end',
           'service suspend|resume', 'service list', 'grant add', 'grant set',
           'grant suspend|resume', 'grant revoke', 'grant list', 'log', 'backup',
           'restore') {
    like($help, qr/lgspctl \Q$v\E/, "--help lists $v");
}

# --- agencies -------------------------------------------------------------
is(ok_out('agency', 'add', 'H26', '--name', 'Hà Nội', '--alias', '000.00.00.H26'),
   'H26', 'agency add prints the canonical code');
is(ok_out('agency', 'add', 'H26.107', '--name', 'Sở TT&TT'), 'H26.107', 'child');
my $a = json('agency', 'add', 'H26.107.05', '--name', 'Trung tâm');
is($a->{code}, 'H26.107.05', '--json: the object');
is($a->{parent}, 'H26.107', 'grammatical parent linked');
is_deeply($a->{aliases}, [], 'aliases array');
is(ok_out('agency', 'add', '000.00.18.G12', '--name', 'Legacy'), '000.00.18.G12', 'legacy code');
is(ok_out('agency', 'add', '000.01.13.H26', '--name', 'L', '--parent', 'H26.107'),
   '000.01.13.H26', 'explicit --parent');

bad(qr/group 2 "0X" must be 2 digits/, 'agency', 'add', '000.0X.00.H26', '--name', 'x');
bad(qr/lower case/, 'agency', 'add', 'h26.108', '--name', 'x');
bad(qr/has 6 groups/, 'agency', 'add', '1.011442.000.00.00.H38', '--name', 'x');
bad(qr/group 2 is empty/, 'agency', 'add', 'H26..1', '--name', 'x');
bad(qr/has a space/, 'agency', 'add', 'H26. 1', '--name', 'x');
bad(qr/unknown option "--nme"/, 'agency', 'add', 'H26.9', '--nme', 'x');
bad(qr/needs CODE and --name/, 'agency', 'add', 'H26.9');
bad(qr/needs a value/, 'agency', 'add', 'H26.9', '--name');
refused(qr/already exists/, 'agency', 'add', 'H26', '--name', 'again');
refused(qr/alias code of agency H26/, 'agency', 'add', '000.00.00.H26', '--name', 'x');
refused(qr/parent H26.999 does not exist/, 'agency', 'add', 'H26.998', '--name', 'x',
        '--parent', 'H26.999');
refused(qr/alias code of agency H26/, 'agency', 'add', 'H26.9', '--name', 'x',
        '--alias', '000.00.00.H26');

# rename: the old code is kept as former and still resolves
ok_out('agency', 'rename', 'H26.107', '--code', 'H26.108');
$a = json('agency', 'rename', 'H26.108', '--name', 'Sở KH&CN');
is($a->{code}, 'H26.108', 'renamed');
is_deeply($a->{former_codes}, ['H26.107'], 'former code kept');
is($a->{name}, 'Sở KH&CN', 'new name');
refused(qr/former code of agency H26.108/, 'agency', 'add', 'H26.107', '--name', 'reuse');
bad(qr/--name or --code/, 'agency', 'rename', 'H26.108');
refused(qr/no such agency/, 'agency', 'rename', 'H26.555', '--name', 'x');

# list
my $list = json('agency', 'list');
is(ref $list, 'ARRAY', 'agency list --json is an array');
is(scalar @$list, 5, 'five agencies');
my ($h26) = grep { $_->{code} eq 'H26' } @$list;
is_deeply($h26->{aliases}, ['000.00.00.H26'], 'alias listed');
like(ok_out('agency', 'list'), qr/^H26\.108\s+active\s+H26\s/m, 'table');

# close: final, never reused, the former code too
ok_out('agency', 'add', 'H26.200', '--name', 'Closing', '--alias', '000.00.20.H26');
ok_out('agency', 'close', 'H26.200', '--reason', 'merged');
refused(qr/already closed/, 'agency', 'close', 'H26.200', '--reason', 'again');
refused(qr/was closed .*a closed code is never reused/, 'agency', 'add', 'H26.200', '--name', 'x');
refused(qr/was closed .*a closed code is never reused/, 'agency', 'add', '000.00.20.H26', '--name', 'x');
refused(qr/was closed .*a closed code is never reused/, 'agency', 'add', 'H26.201', '--name', 'x',
        '--alias', 'H26.200');
refused(qr/closed/, 'agency', 'rename', 'H26.200', '--name', 'x');
bad(qr/needs CODE and --reason/, 'agency', 'close', 'H26.108');

# --- systems ----------------------------------------------------------------
is(ok_out('system', 'add', 'hr-db', '--agency', '000.00.00.H26', '--name', 'HR',
          '--health-url', 'http://127.0.0.1:9/health', '--poll-interval', '10'),
   'hr-db', 'system add prints the id (agency by alias)');
my $s = json('system', 'add', 'citizen-app', '--agency', 'H26.107', '--name', 'App',
             '--security-level', '2');
is($s->{id}, 'citizen-app', '--json id');
is($s->{agency}, 'H26.108', 'agency by former code resolves to canonical');
is($s->{security_level}, 2, 'security level');
ok_out('system', 'add', 'other-app', '--agency', 'H26', '--name', 'Other');
bad(qr/a system id is/, 'system', 'add', 'H26', '--agency', 'H26', '--name', 'x');
bad(qr/a system id is/, 'system', 'add', 'x', '--agency', 'H26', '--name', 'x');
bad(qr/--poll-interval/, 'system', 'add', 'abc', '--agency', 'H26', '--name', 'x',
    '--poll-interval', 'often');
bad(qr/--security-level/, 'system', 'add', 'abc', '--agency', 'H26', '--name', 'x',
    '--security-level', '9');
bad(qr/--health-url: must start with http/, 'system', 'add', 'abc', '--agency', 'H26',
    '--name', 'x', '--health-url', 'ftp://x');
refused(qr/already exists/, 'system', 'add', 'hr-db', '--agency', 'H26', '--name', 'x');
refused(qr/agency H26.200 is closed/, 'system', 'add', 'gone-db', '--agency', 'H26.200',
        '--name', 'x');
refused(qr/agency H26.404 does not exist/, 'system', 'add', 'nope-db', '--agency',
        'H26.404', '--name', 'x');

# suspend / resume
ok_out('system', 'suspend', 'other-app', '--reason', 'incident 7');
refused(qr/already suspended/, 'system', 'suspend', 'other-app', '--reason', 'x');
$s = json('system', 'resume', 'other-app', '--reason', 'fixed');
ok(!$s->{suspended}, 'resumed');
refused(qr/not suspended/, 'system', 'resume', 'other-app', '--reason', 'x');
bad(qr/needs ID and --reason/, 'system', 'suspend', 'other-app');
refused(qr/no such system/, 'system', 'suspend', 'ghost', '--reason', 'x');

# --- services -------------------------------------------------------------
# a provider needs Form 03 or a security level
refused(qr/no security commitment \(Form 03\) and no security level/,
        'service', 'add', 'citizens', '--provider', 'hr-db', '--name', 'C',
        '--upstream', 'http://127.0.0.1:9/');
bad(qr/real YYYY-MM-DD/, 'system', 'commitment', 'hr-db', '--signed-by', 'A', '--date', '2025-02-30');
bad(qr/in the future/, 'system', 'commitment', 'hr-db', '--signed-by', 'A', '--date', city_date(30));
$s = json('system', 'commitment', 'hr-db', '--signed-by', 'Nguyễn Văn A', '--date', '2025-01-02');
is_deeply($s->{commitment}, { signed_by => 'Nguyễn Văn A', date => '2025-01-02' }, 'Form 03 recorded');

my $secret = 'Bearer ups-3cr3t-Value';
is($t->ctl_ok('service', 'add', 'citizens', '--provider', 'hr-db', '--name', 'Citizens',
              '--upstream', 'http://127.0.0.1:9/v1', '--methods', 'get,POST',
              '--rate', '50/s', '--burst', '100', '--timeout', '5', '--body-limit', '65536',
              '--sandbox-upstream', 'http://127.0.0.1:9/sandbox',
              '--upstream-header-file', '-', \"Authorization: $secret\n"),
   'citizens', 'service add prints the code (header from stdin)');
my $svc = json('service', 'list');
is(scalar @$svc, 1, 'one service');
my $v1 = $svc->[0]{versions}[0];
is($v1->{route}, 'citizens/v1', 'version default v1');
is($v1->{state}, 'draft', 'state draft');
is_deeply($v1->{methods}, ['GET', 'POST'], 'methods normalised');
is($v1->{rate}, 50, 'rate');
is($v1->{burst}, 100, 'burst');
is($v1->{timeout}, 5, 'timeout');
is($v1->{body_limit}, 65536, 'body limit');
ok($v1->{upstream_credential}, 'credential present...');
unlike(encode_json($svc), qr/3cr3t/, '...but never in --json');

my $hf = "$t->{home}/hdr";
open my $fh, '>', $hf or die; print $fh "X-Api-Key: File-s3cr3t\n"; close $fh;
$a = json('service', 'add', 'land', '--provider', 'citizen-app', '--name', 'Land',
          '--upstream', 'https://land.example.vn', '--version', '2.0',
          '--upstream-header-file', $hf);
is($a->{id}, 'land', 'service --json object');
is($a->{versions}[0]{version}, '2.0', '--version');

bad(qr/--upstream: must start with http/, 'service', 'add', 'x1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'file:///etc/passwd');
bad(qr/--upstream: has no host/, 'service', 'add', 'x1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'http:///x');
bad(qr/a service code is/, 'service', 'add', 'X1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'http://a');
bad(qr/unknown method "FETCH"/, 'service', 'add', 'x1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'http://a', '--methods', 'GET,FETCH');
bad(qr/--rate "fast"/, 'service', 'add', 'x1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'http://a', '--rate', 'fast');
bad(qr/unknown option "--upstream-header"/, 'service', 'add', 'x1', '--provider', 'hr-db',
    '--name', 'x', '--upstream', 'http://a', '--upstream-header', 'X-A: b');
($rc, my $out, my $err) = $t->ctl('service', 'add', 'x1', '--provider', 'hr-db', '--name', 'x',
    '--upstream', 'http://a', '--upstream-header-file', '-', \"X-K: a-s3cr3t\nX-Other: b\n");
is($rc, 2, 'two header lines refused');
unlike($err, qr/s3cr3t/, 'the secret is not echoed in the refusal');
bad(qr/gateway's own/, 'service', 'add', 'x1', '--provider', 'hr-db', '--name', 'x',
    '--upstream', 'http://a', '--upstream-header-file', '-', \"X-LGSP-Consumer-Org: H26\n");
refused(qr/already exists/, 'service', 'add', 'citizens', '--provider', 'hr-db',
        '--name', 'x', '--upstream', 'http://a');
refused(qr/provider nobody does not exist/, 'service', 'add', 'x2', '--provider', 'nobody',
        '--name', 'x', '--upstream', 'http://a');

# versions and set
is(ok_out('service', 'version', 'add', 'citizens/v2', '--upstream', 'http://127.0.0.1:9/v2'),
   'citizens/v2', 'version add prints CODE/VERSION');
refused(qr/already exists/, 'service', 'version', 'add', 'citizens/v2', '--upstream', 'http://a');
refused(qr/no such service/, 'service', 'version', 'add', 'nosvc/v1', '--upstream', 'http://a');
bad(qr/expected CODE\/VERSION/, 'service', 'version', 'add', 'citizens', '--upstream', 'http://a');
my $v = json('service', 'set', 'citizens/v2', '--rate', '20/s', '--fail-fast', 'on',
             '--sandbox-upstream', 'http://127.0.0.1:9/sb', '--timeout', '7');
is($v->{rate}, 20, 'set rate');
ok($v->{fail_fast}, 'set fail-fast');
is($v->{timeout}, 7, 'set timeout');
$v = json('service', 'set', 'citizens/v2', '--sandbox-upstream', 'none');
is($v->{sandbox_upstream}, undef, 'sandbox upstream cleared');
$v = json('service', 'set', 'citizens/v1', '--no-upstream-header');
ok(!$v->{upstream_credential}, 'credential removed');
ok_out('service', 'set', 'citizens/v1', '--upstream-header-file', '-', \"Authorization: $secret\n");
bad(qr/nothing to set/, 'service', 'set', 'citizens/v2');
bad(qr/--fail-fast: on or off/, 'service', 'set', 'citizens/v2', '--fail-fast', 'maybe');
refused(qr/no such version/, 'service', 'set', 'citizens/v9', '--rate', '1/s');

# publish: draft -> sandbox -> published; production may skip sandbox
$v = json('service', 'publish', 'citizens/v1', '--env', 'sandbox');
is($v->{state}, 'sandbox', 'published to sandbox');
ok($v->{sandbox_at}, 'sandbox_at recorded');
refused(qr/the version is sandbox/, 'service', 'publish', 'citizens/v1', '--env', 'sandbox');
$v = json('service', 'publish', 'citizens/v1');
is($v->{state}, 'published', 'published (production by default)');
ok($v->{published_at}, 'published_at recorded');
refused(qr/the version is published/, 'service', 'publish', 'citizens/v1');
bad(qr/--env: sandbox or production/, 'service', 'publish', 'citizens/v2', '--env', 'prod');

# deprecate needs a published successor and 180 days after its publication
refused(qr/no successor version is published/, 'service', 'deprecate', 'citizens/v1',
        '--sunset', city_date(400));
refused(qr/only a published version can be deprecated/, 'service', 'deprecate',
        'citizens/v2', '--sunset', city_date(400));
ok_out('service', 'publish', 'citizens/v2', '--env', 'production');
refused(qr/less than 180 days after citizens\/v2 was published/, 'service', 'deprecate',
        'citizens/v1', '--sunset', city_date(179));
bad(qr/--force needs --reason/, 'service', 'deprecate', 'citizens/v1',
    '--sunset', city_date(10), '--force');
bad(qr/--reason goes with --force/, 'service', 'deprecate', 'citizens/v1',
    '--sunset', city_date(10), '--reason', 'x');
bad(qr/real YYYY-MM-DD/, 'service', 'deprecate', 'citizens/v1', '--sunset', 'soon');
$v = json('service', 'deprecate', 'citizens/v1', '--sunset', city_date(181));
is($v->{state}, 'deprecated', 'deprecated with 181 days');
is($v->{sunset}, city_date(181), 'sunset date as given');
is($v->{successor}, 'citizens/v2', 'successor recorded');
refused(qr/its sunset is .*needs --force/, 'service', 'retire', 'citizens/v1');
$v = json('service', 'retire', 'citizens/v1', '--force', '--reason', 'provider outage');
is($v->{state}, 'retired', 'retired early with force');
is($v->{lifecycle_reason}, 'provider outage', 'reason recorded');
refused(qr/already retired/, 'service', 'retire', 'citizens/v1');
refused(qr/retired; a retired version is final/, 'service', 'set', 'citizens/v1', '--rate', '1/s');

# a forced deprecation records its reason
ok_out('service', 'version', 'add', 'citizens/v3', '--upstream', 'http://127.0.0.1:9/v3');
ok_out('service', 'publish', 'citizens/v3');
$v = json('service', 'deprecate', 'citizens/v2', '--sunset', city_date(30), '--force',
          '--reason', 'security fix in v3');
is($v->{lifecycle_reason}, 'security fix in v3', 'forced deprecation reason');
is($v->{successor}, 'citizens/v3', 'newest published successor');
refused(qr/no sunset; deprecate it first/, 'service', 'retire', 'citizens/v3');

# suspend/resume a service or a version
ok_out('service', 'suspend', 'citizens/v3', '--reason', 'maintenance');
refused(qr/already suspended/, 'service', 'suspend', 'citizens/v3', '--reason', 'x');
ok_out('service', 'resume', 'citizens/v3', '--reason', 'done');
my $sv = json('service', 'suspend', 'land', '--reason', 'audit');
ok($sv->{suspended}, 'service suspended');
ok_out('service', 'resume', 'land', '--reason', 'ok');
refused(qr/not suspended/, 'service', 'resume', 'land', '--reason', 'x');

# end: 60 days' notice
refused(qr/less than 60 days' notice/, 'service', 'end', 'land', '--date', city_date(59));
bad(qr/ends a whole service/, 'service', 'end', 'land/2.0', '--date', city_date(90));
$sv = json('service', 'end', 'land', '--date', city_date(61));
is($sv->{end_date}, city_date(61), 'end date recorded');
$sv = json('service', 'end', 'land', '--date', city_date(5), '--force', '--reason', 'law changed');
is($sv->{end_reason}, 'law changed', 'forced end reason recorded');
like(ok_out('service', 'list'), qr/^citizens\/v3\s+published\s+hr-db/m, 'service list table');

# --- grants -----------------------------------------------------------------
ok_out('service', 'version', 'add', 'citizens/v4', '--upstream', 'http://127.0.0.1:9/v4');
refused(qr/draft, not callable in sandbox/, 'grant', 'add', '--consumer', 'citizen-app',
        '--service', 'citizens/v4', '--env', 'sandbox');
ok_out('service', 'publish', 'citizens/v4', '--env', 'sandbox');
refused(qr/sandbox, not callable in production/, 'grant', 'add', '--consumer', 'citizen-app',
        '--service', 'citizens/v4');
my $g1 = ok_out('grant', 'add', '--consumer', 'citizen-app', '--service', 'citizens/v4',
                '--env', 'sandbox');
like($g1, qr/^\d+$/, 'grant add prints an integer id');
my $g = json('grant', 'add', '--consumer', 'citizen-app', '--service', 'citizens/v3',
             '--env', 'production', '--rate', '20/s', '--burst', '40', '--quota', '1000/day');
my $g2 = $g->{id};
is_deeply([@$g{qw(consumer service env rate burst quota state provider)}],
          ['citizen-app', 'citizens/v3', 'production', 20, 40, 1000, 'active', 'hr-db'],
          'grant --json object');
refused(qr/already has grant $g2/, 'grant', 'add', '--consumer', 'citizen-app',
        '--service', 'citizens/v3', '--env', 'production');
refused(qr/retired, not callable/, 'grant', 'add', '--consumer', 'other-app',
        '--service', 'citizens/v1');
refused(qr/consumer ghost-app does not exist/, 'grant', 'add', '--consumer', 'ghost-app',
        '--service', 'citizens/v3');
bad(qr/--env: sandbox or production/, 'grant', 'add', '--consumer', 'other-app',
    '--service', 'citizens/v3', '--env', 'staging');
bad(qr/--quota "lots"/, 'grant', 'add', '--consumer', 'other-app',
    '--service', 'citizens/v3', '--quota', 'lots');

$g = json('grant', 'set', $g2, '--rate', '5/s', '--quota', 'none');
is($g->{rate}, 5, 'grant set rate');
is($g->{quota}, undef, 'quota removed');
is($g->{burst}, 40, 'burst kept');
ok_out('grant', 'suspend', $g2, '--reason', 'abuse');
refused(qr/already suspended/, 'grant', 'suspend', $g2, '--reason', 'x');
$g = json('grant', 'resume', $g2, '--reason', 'cleared');
is($g->{state}, 'active', 'resumed');
bad(qr/a grant id is a positive integer/, 'grant', 'revoke', 'abc');
refused(qr/no such grant/, 'grant', 'revoke', '9999');

# list filters: agency code (any of its codes) or system id
# land ends in 5 days (forced): until then it can still be granted
ok_out('service', 'publish', 'land/2.0');
my $g3 = ok_out('grant', 'add', '--consumer', 'hr-db', '--service', 'land/2.0');
is(scalar @{ json('grant', 'list') }, 3, 'grant list: all');
is(scalar @{ json('grant', 'list', '--consumer', 'citizen-app') }, 2, '--consumer system');
is(scalar @{ json('grant', 'list', '--consumer', 'H26.107') }, 2, '--consumer former code');
is(scalar @{ json('grant', 'list', '--provider', 'citizen-app') }, 1, '--provider system');
is(scalar @{ json('grant', 'list', '--provider', '000.00.00.H26') }, 2, '--provider alias');
is(scalar @{ json('grant', 'list', '--consumer', 'hr-db', '--provider', 'hr-db') }, 0, 'both');
refused(qr/no such system/, 'grant', 'list', '--consumer', 'nobody');
bad(qr/neither an agency code nor a system id/, 'grant', 'list', '--provider', 'Not A Code');
like(ok_out('grant', 'list'), qr/^$g2\s+citizen-app\s+citizens\/v3\s+production\s+active/m,
     'grant list table');

ok_out('grant', 'revoke', $g3);
refused(qr/revoked; a revoked grant is final/, 'grant', 'revoke', $g3);
refused(qr/revoked; a revoked grant is final/, 'grant', 'resume', $g3, '--reason', 'x');
my $g4 = ok_out('grant', 'add', '--consumer', 'hr-db', '--service', 'land/2.0');
cmp_ok($g4, '>', $g3, 'after a revoke, a new live grant for the same triple has a new id');

# --- change log ------------------------------------------------------------
my $log = json('log');
is(ref $log, 'ARRAY', 'log --json array');
my @rev = grep { $_->{object} eq "grant:$g3" && $_->{action} eq 'revoke' } @$log;
is(scalar @rev, 1, 'grant revoke logged');
is($rev[0]{before}{state}, 'active', 'before');
is($rev[0]{after}{state}, 'revoked', 'after');
is($rev[0]{operator}, 'test-operator', '$LGSP_OPERATOR');
is($rev[0]{os_user}, scalar getpwuid($>), 'OS user');
like($rev[0]{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time');
ok((grep { $_->{object} eq 'agency:H26.107' && $_->{action} eq 'rename' } @$log), 'rename logged');
ok((grep { $_->{object} eq 'agency:H26.200' && $_->{action} eq 'close' } @$log), 'close logged');
ok((grep { $_->{action} eq 'deprecate-forced' } @$log), 'forced deprecation logged');
unlike(encode_json($log), qr/3cr3t/, 'no upstream secret in the change log');
my @hdr = grep { $_->{object} eq 'version:citizens/v1' && $_->{action} eq 'set' } @$log;
ok(@hdr >= 2 && !$hdr[0]{after}{upstream_credential}, 'credential change visible as a flag');
like(ok_out('log'), qr/test-operator\)\s+grant:$g3\s+revoke/, 'log table');
is(scalar @{ json('log', '--since', '2999-01-01') }, 0, '--since filters');
bad(qr/--since "yesterday"/, 'log', '--since', 'yesterday');
# a refused command writes nothing
my $n = @$log;
refused(qr/already exists/, 'agency', 'add', 'H26', '--name', 'dup');
is(scalar @{ json('log') }, $n, 'a refusal leaves no change-log entry');

# --- backup and restore -------------------------------------------------------
my $bk = "$t->{home}/backup.db";
is(ok_out('backup', $bk), $bk, 'backup prints the file');
is((stat $bk)[2] & 0777, 0600, 'backup is owner-only');
ok(!-e "$bk-wal", 'backup is one self-contained file');

# after the backup: revoke a grant, close an agency, add an agency and
# close it, add a grant
ok_out('grant', 'revoke', $g2);
ok_out('agency', 'close', 'H26.107.05', '--reason', 'dissolved');
ok_out('agency', 'add', 'H26.300', '--name', 'Born and closed after backup');
ok_out('agency', 'close', 'H26.300', '--reason', 'short-lived');
my $g5 = ok_out('grant', 'add', '--consumer', 'other-app', '--service', 'citizens/v3');
my $maxlog = json('log')->[-1]{id};

my $r = json('restore', $bk);
is($r->{grants_revoked}, 1, 'restore re-applied one grant revocation');
is($r->{agencies_closed}, 2, 'and two agency closures');
my ($gr) = grep { $_->{id} == $g2 } @{ json('grant', 'list') };
is($gr->{state}, 'revoked', 'the grant revoked after the backup stays revoked');
my ($gk) = grep { $_->{id} == $g5 } @{ json('grant', 'list') };
is($gk && $gk->{state}, 'active', 'a grant added after the backup is kept');
is($r->{created_since}{grants}, 1, '  and reported as created since');
my %ag = map { $_->{code} => $_ } @{ json('agency', 'list') };
is($ag{'H26.107.05'}{state}, 'closed', 'the agency closed after the backup stays closed');
is($ag{'H26.300'}{state}, 'closed', 'an agency added and closed after the backup is kept closed');
refused(qr/never reused/, 'agency', 'add', 'H26.300', '--name', 'reuse');
ok_out('grant', 'revoke', $g5);
my $g6 = ok_out('grant', 'add', '--consumer', 'other-app', '--service', 'citizens/v3');
cmp_ok($g6, '>', $g5, 'a new grant after restore gets a fresh id');
$log = json('log');
ok((grep { $_->{object} eq "grant:$g2" && $_->{action} eq 'revoke' } @$log),
   'change log since the backup kept');
my ($rest) = grep { $_->{action} eq 'restore' } @$log;
ok($rest && $rest->{id} > $maxlog, 'restore itself logged with a fresh id');
refused(qr/not an LGSP registry backup/, 'restore', $hf);
refused(qr/No such file/, 'restore', "$t->{home}/nope.db");
bad(qr/backup: needs FILE/, 'backup');

# --- backup while lgspd runs --------------------------------------------------
my $t2 = LGSP::Test->new(workers => 1);
my ($rc2, $o2, $e2) = $t2->ctl('agency', 'add', 'G01', '--name', 'Bộ');
is($rc2, 0, 'agency add with lgspd running');
my $bk2 = "$t2->{home}/live.db";
($rc2, $o2, $e2) = $t2->ctl('backup', $bk2);
is($rc2, 0, 'backup while lgspd runs') or diag($e2);
($rc2, $o2, $e2) = $t2->ctl('agency', 'close', 'G01', '--reason', 'test');
($rc2, $o2, $e2) = $t2->ctl('--json', 'restore', $bk2);
is($rc2, 0, 'restore while lgspd runs') or diag($e2);
is(decode_json($o2)->{agencies_closed}, 1, 'closure re-applied');
ok($t2->wait_ready(5), 'lgspd still answers after the restore');
$t2->stop;
$t->stop;

done_testing;
