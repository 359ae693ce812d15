#!/usr/bin/perl
# Registration workflows (SPEC §7, §10; seed Art. 10.2, 11.6, Appendix 02):
# Forms 01/02/03 checked by lgspctl and by python3-jsonschema against the
# same fixtures with the same verdict; requests (approve -> a grant usable
# on the data path, reject, overdue after 5 working days); maintenance
# notices at the 24-hour boundary; lifecycle notices; the password policy
# of hand-entered upstream credentials.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use POSIX qw(strftime);
use LGSP::Test;
use LGSP::Demo;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $FX = 't/fixtures/forms';
my $t = LGSP::Test->new;
my $home = $t->home;

sub json { decode_json($t->ctl_ok('--json', @_)) }
sub refused { $t->ctl_refused(@_) }
sub bad { $t->ctl_bad(@_); return }
sub sql {
    my ($q) = @_;
    my $out = `sqlite3 -batch -noheader '$home/lgsp.db' ".timeout 5000" "$q" 2>&1`;
    is($? >> 8, 0, "sqlite3: $q") or diag($out);
    chomp $out;
    return decode_utf8($out);
}
sub utc { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) }
sub city { strftime('%Y-%m-%dT%H:%M:%S', gmtime($_[0] + 7 * 3600)) }

# --- --help lists every new verb -----------------------------------------
my ($rc, $help) = $t->ctl('--help');
for my $v ('request add', 'request list [--overdue]', 'request approve ID',
           'request reject ID --reason', 'notice add --kind maintenance', 'notice list',
           'service add --form', 'system commitment ID --form', '--print-form') {
    like($help, qr/\Q$v\E/, "--help lists $v");
}

# --- the schemas and lgspctl agree on every fixture ----------------------
# python3-jsonschema (Draft 2020-12) gives its verdict and the pointer of
# each error; lgspctl must accept exactly the same files and name a path
# python also names.
my %py;
{
    my $py = <<'PY';
import json, glob, os, sys
from jsonschema import Draft202012Validator
for n in ("01", "02", "03"):
    Draft202012Validator.check_schema(json.load(open("schemas/forms/form-%s.schema.json" % n)))
for f in sorted(glob.glob(sys.argv[1] + "/*/*.json")):
    s = json.load(open("schemas/forms/form-%s.schema.json" % os.path.basename(f)[4:6]))
    try:
        d = json.load(open(f))
    except ValueError:
        print(f + "\tnot-json")
        continue
    errs = ["/" + "/".join(str(p) for p in e.absolute_path) for e in Draft202012Validator(s).iter_errors(d)]
    print(f + "\t" + (" ".join(errs) if errs else "valid"))
PY
    open my $p, '-|', 'python3', '-c', $py, $FX or die;
    while (<$p>) { chomp; my ($f, $v) = split /\t/; $py{$f} = $v }
    close $p;
    is($? >> 8, 0, 'python3-jsonschema: the three schemas are valid 2020-12 schemas');
}
my %verb = ('01' => ['service', 'add'], '02' => ['request', 'add'],
            '03' => ['system', 'commitment']);
my %expect;
open my $m, '<', "$FX/invalid/expect.tsv" or die;
while (<$m>) { next if /^#/; chomp; my ($f, $p) = split /\t/; $expect{"$FX/invalid/$f"} = $p }
close $m;

my @valid = sort glob("$FX/valid/*.json");
my @invalid = sort glob("$FX/invalid/*.json");
ok(@valid >= 6 && @invalid >= 25, 'fixtures: ' . @valid . ' valid, ' . @invalid . ' invalid');
for my $f (@valid) {
    my ($n) = $f =~ m{/form(\d\d)-};
    is($py{$f}, 'valid', "python: $f valid");
    my ($rc, $out, $err) = $t->ctl(@{ $verb{$n} }, '--form', $f, '--print-form');
    is($rc, 0, "lgspctl accepts $f") or diag($err);
    like(decode_utf8($out), qr/^Mẫu số $n\n/, '  and prints the letter');
}
for my $f (@invalid) {
    my ($n) = $f =~ m{/form(\d\d)-};
    my $want = $expect{$f} // die "no expectation for $f";
    my ($rc, $out, $err) = $t->ctl(@{ $verb{$n} }, '--form', $f, '--print-form');
    is($rc, 1, "lgspctl refuses $f");
    is($out, '', '  and prints nothing');
    if ($want eq '-') {
        is($py{$f}, 'not-json', '  python: not JSON either');
        like($err, qr/\Q$f\E: line \d+: not a JSON document/, '  names the line');
        next;
    }
    isnt($py{$f}, 'valid', "  python refuses it too");
    like($err, qr/^lgspctl: [a-z ]+: \Q$f\E: \Q$want\E: /m, "  names the field $want")
        or diag($err);
    ok(grep({ $_ eq $want } split / /, $py{$f} // '')
       # python names the object for a missing member; we name the member
       || grep({ $want =~ m{^\Q$_\E/?[^/]+$} } split / /, $py{$f} // ''),
       "  python names the same place ($py{$f})");
}

# --- registration from forms ---------------------------------------------
$t->ctl_ok('agency', 'add', 'H26.301', '--name', 'Sở Nội vụ');
$t->ctl_ok('agency', 'add', 'H26.200', '--name', 'UBND quận Ba Đình');
$t->ctl_ok('system', 'add', 'hr-db', '--agency', 'H26.301', '--name', 'CSDL cán bộ');
$t->ctl_ok('system', 'add', 'citizen-app', '--agency', 'H26.200', '--name', 'Một cửa');

refused(qr/no security commitment/, 'service', 'add', '--form', "$FX/valid/form01-citizens.json");
refused(qr{/system: the form is for hr-db, not citizen-app},
        'system', 'commitment', 'citizen-app', '--form', "$FX/valid/form03-hr-db.json");
bad(qr/signer and date come from the form/, 'system', 'commitment', 'hr-db', '--form',
    "$FX/valid/form03-hr-db.json", '--date', '2026-01-01');
my $s = json('system', 'commitment', 'hr-db', '--form', "$FX/valid/form03-hr-db.json");
is_deeply($s->{commitment}, { signed_by => 'Lê Văn C', date => '2026-01-15' },
          'Form 03 recorded: signer and date from the form');
like(sql("SELECT commitment_form FROM systems WHERE ident = 'hr-db'"), qr/"id_number":"001080012345"/,
     'the whole Form 03 is kept');

bad(qr/everything but --upstream-header-file and --allow-link-local comes from the form/, 'service', 'add', '--form',
    "$FX/valid/form01-citizens.json", '--name', 'x');
bad(qr/--print-form needs --form/, 'request', 'add', '--print-form');
is($t->ctl_ok('service', 'add', '--form', "$FX/valid/form01-citizens.json"), 'citizens',
   'service add --form prints the code');
my $svc = (grep { $_->{id} eq 'citizens' } @{ json('service', 'list') })[0];
my $v1 = $svc->{versions}[0];
is($v1->{route}, 'citizens/v1', 'version from the form');
is_deeply($v1->{methods}, ['GET', 'POST'], 'methods from the form');
is($v1->{rate}, 50, 'rate from the form');
is($v1->{timeout}, 5, 'timeout from the form');
is($v1->{sandbox_upstream}, 'http://127.0.0.1:9/sandbox', 'sandbox upstream from the form');
like(sql("SELECT purpose FROM services WHERE code = 'citizens'"), qr/^Cung cấp thông tin/,
     'purpose kept');
refused(qr/already exists/, 'service', 'add', '--form', "$FX/valid/form01-citizens.json");

# Form 02 for a draft version: filed, but cannot be approved until published
my $rid = $t->ctl_ok('request', 'add', '--form', "$FX/valid/form02-citizen-app.json");
like($rid, qr/^\d+$/, 'request add --form prints the id');
my $r = (grep { $_->{id} == $rid } @{ json('request', 'list') })[0];
is($r->{consumer}, 'citizen-app', 'consumer from the form');
is($r->{service}, 'citizens/v1', 'service from the form');
is($r->{scope}, 'Bộ phận một cửa của UBND quận và 14 phường.', 'scope from the form');
ok($r->{form}, 'the form is kept');
ok(!$r->{overdue}, 'a new request is not overdue');
refused(qr/already has request $rid/, 'request', 'add', '--consumer', 'citizen-app',
        '--service', 'citizens/v1', '--purpose', 'again');
refused(qr/citizens\/v1 is draft, not callable in production; publish it first/,
        'request', 'approve', $rid);
is($t->ctl_ok('--json', 'request', 'reject', $rid, '--reason', 'chưa công bố', '--by', 'Sở Nội vụ')
   =~ /"state":"rejected"/ ? 1 : 0, 1, 'reject');
$r = (grep { $_->{id} == $rid } @{ json('request', 'list') })[0];
is($r->{decided_by}, 'Sở Nội vụ', 'who rejected is recorded');
is($r->{reason}, 'chưa công bố', 'the reason is recorded');
refused(qr/request $rid: already rejected/, 'request', 'approve', $rid);
refused(qr/no such request/, 'request', 'approve', '9999');
bad(qr/needs ID and --reason/, 'request', 'reject', $rid);
bad(qr/a request id is a positive integer/, 'request', 'approve', 'x1');
refused(qr/consumer nobody does not exist/, 'request', 'add', '--consumer', 'nobody',
        '--service', 'citizens/v1', '--purpose', 'p');
refused(qr{service citizens/v9 does not exist}, 'request', 'add', '--consumer', 'citizen-app',
        '--service', 'citizens/v9', '--purpose', 'p');
bad(qr/--env: sandbox or production/, 'request', 'add', '--consumer', 'citizen-app',
    '--service', 'citizens/v1', '--purpose', 'p', '--env', 'staging');

# --- approve -> a grant that works on the data path ----------------------
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
$t->ctl_ok('system', 'add', 'new-sys', '--agency', 'H26.200', '--name', 'HTTT mới');
my ($cid, $csecret) = split /\n/, $t->ctl_ok('credential', 'issue', 'new-sys', '--env', 'production');
my $tok_r = $t->http('POST', '/oauth/token',
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => "grant_type=client_credentials&client_id=$cid&client_secret=$csecret");
is($tok_r->{status}, 200, 'new-sys gets a token');
my $tok = decode_json($tok_r->{content})->{access_token};
sub call { $t->http('GET', '/api/citizen/v1/people/1', headers => { Authorization => "Bearer $tok" }) }
is(call()->{status}, 403, 'no grant yet: 403');

$rid = $t->ctl_ok('request', 'add', '--consumer', 'new-sys', '--service', 'citizen/v1',
                  '--purpose', 'tra cứu hộ tịch', '--scope', 'một cửa');
{
    local $ENV{LGSP_OPERATOR} = 'provider-officer';
    my $gid = $t->ctl_ok('request', 'approve', $rid, '--rate', '20/s', '--burst', '40');
    like($gid, qr/^\d+$/, 'approve prints the new grant id');
    my $g = (grep { $_->{id} == $gid } @{ json('grant', 'list') })[0];
    is($g->{consumer}, 'new-sys', 'grant for the consumer');
    is($g->{service}, 'citizen/v1', 'grant for the service version');
    is($g->{rate}, 20, 'grant rate from approve');
    is($g->{burst}, 40, 'grant burst from approve');
    is($g->{request_id}, $rid, 'grant remembers its request');
    $r = (grep { $_->{id} == $rid } @{ json('request', 'list') })[0];
    is($r->{state}, 'approved', 'request approved');
    is($r->{grant_id}, $gid, 'request names its grant');
    is($r->{decided_by}, 'provider-officer', 'approved by the operator recorded');
    is(sql("SELECT count(*) FROM change_log WHERE object = 'request:$rid' AND action = 'approve'"
           . " AND operator = 'provider-officer'"), 1, 'the approval is in the change log');
}
is(call()->{status}, 200, 'approved: the consumer calls the service');
refused(qr/already approved/, 'request', 'approve', $rid);
refused(qr/already has grant \d+ for citizen\/v1/, 'request', 'add', '--consumer', 'new-sys',
        '--service', 'citizen/v1', '--purpose', 'again');

# --- overdue after 5 working days -----------------------------------------
my $late = $t->ctl_ok('request', 'add', '--consumer', 'new-sys', '--service', 'citizen/v1',
                      '--env', 'sandbox', '--purpose', 'thử nghiệm');
my $fresh = $t->ctl_ok('request', 'add', '--consumer', 'citizen-app', '--service', 'citizen/v1',
                       '--purpose', 'tra cứu');
# 30 calendar days hold at least 5 working days whatever the holidays
sql("UPDATE requests SET created_at = created_at - 30 * 86400 WHERE id = $late");
my $over = json('request', 'list', '--overdue');
is_deeply([map { $_->{id} } @$over], [$late], 'request list --overdue: only the back-dated one');
ok($over->[0]{working_days} >= 5, "  $over->[0]{working_days} working days elapsed");
my ($rc2, $table) = $t->ctl('request', 'list', '--overdue');
like($table, qr/^$late\s+open\s.*OVERDUE/m, 'the table says OVERDUE');
my $st = json('status');
is($st->{requests_overdue}, 1, 'status: one overdue request');
is($st->{requests_open}, 2, 'status: two open requests');
(undef, my $stt) = $t->ctl('status');
like($stt, qr/requests\s+2 open, 1 overdue/, 'status table shows the overdue request');
# the filing day is a weekday or not, but 1 day back is never overdue
sql("UPDATE requests SET created_at = created_at - 86400 WHERE id = $fresh");
ok(!(grep { $_->{id} == $fresh } @{ json('request', 'list', '--overdue') }),
   'a day-old request is not overdue');
# a broken holiday list is said, and weekends still count
open my $hf, '>>', "$home/holidays.txt" or die; print $hf "2026-13-01 bad\n"; close $hf;
my ($rc3, $o3, $e3) = $t->ctl('request', 'list', '--overdue');
is($rc3, 0, 'list still works with a broken holiday list');
like($e3, qr/warning: holidays: .*holidays\.txt: line \d+: expected YYYY-MM-DD/, '  and says where it is broken');

# --- maintenance notices: 24 hours ahead --------------------------------
my $now = time;
refused(qr/less than 24 hours ahead/, 'notice', 'add', '--kind', 'maintenance',
        '--start', utc($now + 23 * 3600 + 59 * 60), '--end', utc($now + 26 * 3600),
        '--text', 'nâng cấp', '--target', 'citizen/v1');
my $nid = $t->ctl_ok('notice', 'add', '--kind', 'maintenance',
                     '--start', utc($now + 24 * 3600 + 60), '--end', utc($now + 26 * 3600),
                     '--text', 'nâng cấp CSDL', '--target', 'citizen/v1');
like($nid, qr/^\d+$/, '24h01 ahead: accepted, prints the id');
# a time without an offset is the city's
my $start = $now + 48 * 3600;
my $n2 = decode_json($t->ctl_ok('--json', 'notice', 'add', '--kind', 'maintenance',
    '--start', city($start), '--end', city($start + 3600), '--text', 'bảo trì'));
is($n2->{start}, utc($start), 'a time without offset is city time (UTC+7), stored UTC');
refused(qr/less than 24 hours ahead/, 'notice', 'add', '--kind', 'maintenance',
        '--start', utc($now + 3600), '--end', utc($now + 7200), '--text', 'khẩn');
bad(qr/--force and --reason go together/, 'notice', 'add', '--kind', 'maintenance',
    '--start', utc($now + 3600), '--end', utc($now + 7200), '--text', 'khẩn', '--force');
bad(qr/--force and --reason go together/, 'notice', 'add', '--kind', 'maintenance',
    '--start', utc($now + 3600), '--end', utc($now + 7200), '--text', 'khẩn', '--reason', 'r');
my $forced = $t->ctl_ok('notice', 'add', '--kind', 'maintenance', '--start', utc($now + 3600),
    '--end', utc($now + 7200), '--text', 'vá lỗi khẩn', '--force', '--reason', 'lỗ hổng bảo mật');
bad(qr/--end must be after --start/, 'notice', 'add', '--kind', 'maintenance',
    '--start', utc($now + 90000), '--end', utc($now + 90000), '--text', 'x');
bad(qr/only maintenance is announced by hand/, 'notice', 'add', '--kind', 'outage',
    '--start', utc($now + 90000), '--end', utc($now + 93600), '--text', 'x');
bad(qr/is not an ISO 8601 time/, 'notice', 'add', '--kind', 'maintenance',
    '--start', 'tomorrow', '--end', utc($now + 93600), '--text', 'x');
refused(qr/--target nosvc does not exist/, 'notice', 'add', '--kind', 'maintenance',
    '--start', utc($now + 90000), '--end', utc($now + 93600), '--text', 'x', '--target', 'nosvc');
refused(qr/already be over/, 'notice', 'add', '--kind', 'maintenance', '--start', utc($now - 7200),
    '--end', utc($now - 3600), '--text', 'x', '--force', '--reason', 'late');
# a past notice is not listed; --all shows it
sql("INSERT INTO notices (kind, start_at, end_at, text, created_at)"
    . " VALUES ('maintenance', $now - 7200, $now - 3600, 'xong', $now - 90000)");
my $list = json('notice', 'list');
my %byid = map { $_->{id} => $_ } @$list;
ok($byid{$nid} && $byid{$forced} && $byid{$n2->{id}}, 'notice list: the upcoming ones');
ok(!(grep { $_->{text} eq 'xong' } @$list), 'notice list: not the finished one');
ok((grep { $_->{text} eq 'xong' } @{ json('notice', 'list', '--all') }), '--all: the finished one too');
is($byid{$forced}{forced_reason}, 'lỗ hổng bảo mật', 'the forced reason is recorded');
is($byid{$nid}{target}, 'citizen/v1', 'target');
is($byid{$nid}{created_by}, 'test-operator', 'who announced it');
ok(!$byid{$nid}{current}, 'upcoming, not current');
is(sql("SELECT count(*) FROM change_log WHERE object = 'notice:$forced'"), 1,
   'notices are in the change log');

# --- deprecation, retirement and end of a service announce themselves ---
$t->ctl_ok('service', 'version', 'add', 'citizen/v2', '--upstream', "$up->{url}/v2");
$t->ctl_ok('service', 'publish', 'citizen/v2');
my $sunset = strftime('%Y-%m-%d', gmtime($now + 7 * 3600 + 200 * 86400));
$t->ctl_ok('service', 'deprecate', 'citizen/v1', '--sunset', $sunset);
$list = json('notice', 'list');
my ($dep) = grep { $_->{kind} eq 'deprecation' } @$list;
ok($dep, 'deprecate made a notice');
is($dep->{target}, 'citizen/v1', '  for the version');
like($dep->{text}, qr{citizen/v1 is deprecated: callable until $sunset.*citizen/v2}, '  saying until when and what next');
$t->ctl_ok('service', 'retire', 'citizen/v1', '--force', '--reason', 'dữ liệu sai');
my ($ret) = grep { $_->{kind} eq 'retirement' } @{ json('notice', 'list') };
ok($ret, 'retire made a notice');
is($ret->{forced_reason}, 'dữ liệu sai', '  with the forced reason');
my $end = strftime('%Y-%m-%d', gmtime($now + 7 * 3600 + 70 * 86400));
$t->ctl_ok('service', 'end', 'citizen', '--date', $end);
my ($se) = grep { $_->{kind} eq 'service-end' } @{ json('notice', 'list') };
ok($se, 'service end made a notice');
is($se->{target}, 'citizen', '  for the service');
ok(!$se->{current}, '  upcoming until the end date');
like($se->{text}, qr/ends on $end/, '  naming the date');
refused(qr/gives less than 60 days/, 'service', 'end', 'citizens', '--date',
        strftime('%Y-%m-%d', gmtime($now + 7 * 3600 + 10 * 86400)));
is(scalar(grep { $_->{target} && $_->{target} eq 'citizens' } @{ json('notice', 'list') }), 0,
   'a refused end announces nothing');

# --- the password policy on hand-entered upstream credentials ----------
my %weak = ('Authorization: Ab1!x'              => 'shorter than 8 characters',
            'X-Api-Key: alllowercase1!'          => 'needs an upper-case letter',
            'X-Api-Key: ALLUPPERCASE1!'          => 'needs a lower-case letter',
            'X-Api-Key: NoDigitsHere!'           => 'needs a digit',
            'X-Api-Key: NoSpecial123'            => 'needs a special character',
            'X-Api-Key: abcdefghij'              => 'needs an upper-case letter, a digit and a special character');
for my $h (sort keys %weak) {
    my ($val) = $h =~ /: (.*)/;
    my ($rc, $out, $err) = $t->ctl('service', 'set', 'citizens/v1', '--upstream-header-file', '-', \"$h\n");
    is($rc, 1, "weak credential refused: $weak{$h}");
    like($err, qr/the credential \Q$weak{$h}\E \(password policy: at least 8 characters/, '  says what is missing');
    unlike($err, qr/\Q$val\E/, '  never echoes the secret');
}
my $hf2 = "$home/hdr";
open my $fh2, '>', $hf2 or die; print $fh2 "X-Api-Key: weakkey\n"; close $fh2;
refused(qr/--upstream-header-file \Q$hf2\E: the credential shorter than 8/, 'service', 'add', 'weak',
        '--provider', 'hr-db', '--name', 'W', '--upstream', 'http://127.0.0.1:9/',
        '--upstream-header-file', $hf2);
is(sql("SELECT count(*) FROM services WHERE code = 'weak'"), 0, '  and nothing was added');
$t->ctl_ok('service', 'set', 'citizens/v1', '--upstream-header-file', '-', \"X-Api-Key: Str0ng-Key!\n");
my ($cv) = grep { $_->{id} eq 'citizens' } @{ json('service', 'list') };
ok($cv->{versions}[0]{upstream_credential}, 'a credential that meets the policy is taken');

$t->stop;
done_testing;
