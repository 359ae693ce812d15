#!/usr/bin/perl
# Bad text (issue 26, item 6): lgspctl refuses malformed UTF-8 and control
# characters in every text it stores (exit 2 for an argument, exit 1 for a
# form, as for any other bad value of each), so --json stays valid JSON;
# text stored before still prints as valid JSON; reconcile escapes a
# partner's control bytes; CSV output never hands a spreadsheet a formula.
use strict;
use warnings;
use lib 't/lib';
use Encode qw(decode FB_CROAK);
use JSON::PP;
use Test::More;
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1);
my $h = $t->home;
my $FX = 't/fixtures/forms/valid';

# strict: a document with a malformed byte is no JSON
sub strict_json {
    my ($bytes) = @_;
    my $ok = eval { decode('UTF-8', my $copy = $bytes, FB_CROAK); 1 };
    return $ok ? eval { JSON::PP->new->decode(decode('UTF-8', $bytes)) } : undef;
}
sub json_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = $t->ctl('--json', @args);
    my $doc = strict_json($out);
    ok($rc == 0 && defined $doc, "$name: valid JSON") or diag("$rc $err $out");
    return $doc;
}
sub spew { my ($f, $s) = @_; open my $fh, '>:raw', $f or die; print $fh $s; close $fh; $f }
sub slurp { my $f = shift; open my $fh, '<:raw', $f or die; local $/; <$fh> }

$t->ctl_ok('agency', 'add', 'H26', '--name', 'Ha Noi');
$t->ctl_ok('system', 'add', 'hr-db', '--agency', 'H26', '--name', 'HR');

# --- text arguments ----------------------------------------------------------
my %bad = (
    "Latin-1 byte"          => ["Ha \xff Noi",        qr/is not valid UTF-8 \(byte 4\)/],
    "overlong /"            => ["a\xc0\xafb",         qr/is not valid UTF-8 \(byte 2\)/],
    "overlong NUL"          => ["\xc0\x80",           qr/is not valid UTF-8 \(byte 1\)/],
    "surrogate U+D800"      => ["x\xed\xa0\x80",      qr/is not valid UTF-8 \(byte 2\)/],
    "truncated sequence"    => ["ab\xe1\x80",         qr/is not valid UTF-8 \(byte 3\)/],
    "past U+10FFFF"         => ["\xf4\x90\x80\x80",   qr/is not valid UTF-8 \(byte 1\)/],
    "ESC"                   => ["red\x1b[31m",        qr/has a control character \(byte 4\)/],
    "newline"               => ["two\nlines",         qr/has a control character \(byte 4\)/],
    "carriage return"       => ["over\rwrite",        qr/has a control character \(byte 5\)/],
    "C1 CSI"                => ["x\xc2\x9b2J",        qr/has a control character \(byte 2\)/],
);
for my $k (sort keys %bad) {
    my ($s, $why) = @{ $bad{$k} };
    $t->ctl_bad(qr/agency add: --name $why/, 'agency', 'add', 'H26.9', '--name', $s);
}
# every verb that stores a text takes it through the same check
my $x = "Ha \xff Noi";
my @verbs = (
    [qr/agency rename: --name is not valid UTF-8/, 'agency', 'rename', 'H26', '--name', $x],
    [qr/agency close: --reason is not valid UTF-8/, 'agency', 'close', 'H26', '--reason', $x],
    [qr/system add: --name is not valid UTF-8/, 'system', 'add', 'x-db', '--agency', 'H26',
     '--name', $x],
    [qr/system add: --health-url: is not valid UTF-8/, 'system', 'add', 'x-db', '--agency', 'H26',
     '--name', 'X', '--health-url', "http://127.0.0.1:9/\xff"],
    [qr/system suspend: --reason is not valid UTF-8/, 'system', 'suspend', 'hr-db', '--reason', $x],
    [qr/system commitment: --signed-by is not valid UTF-8/, 'system', 'commitment', 'hr-db',
     '--signed-by', $x, '--date', '2026-01-02'],
    [qr/service add: --name is not valid UTF-8/, 'service', 'add', 'svc', '--provider', 'hr-db',
     '--name', $x, '--upstream', 'http://127.0.0.1:9/'],
    [qr/service add: --upstream: is not valid UTF-8/, 'service', 'add', 'svc', '--provider',
     'hr-db', '--name', 'S', '--upstream', "http://127.0.0.1:9/\xc3"],
    [qr/request add: --purpose is not valid UTF-8/, 'request', 'add', '--consumer', 'hr-db',
     '--service', 'svc/v1', '--purpose', $x],
    [qr/request add: --scope has a control character/, 'request', 'add', '--consumer', 'hr-db',
     '--service', 'svc/v1', '--purpose', "two\nlines are fine", '--scope', "a\x1b"],
    [qr/grant suspend: --reason is not valid UTF-8/, 'grant', 'suspend', '1', '--reason', $x],
    [qr/key revoke: --reason has a control character/, 'key', 'revoke', 'nokid', '--reason',
     "leak\x1b]0;x\x07"],
    [qr/notice add: --text is not valid UTF-8/, 'notice', 'add', '--kind', 'maintenance',
     '--start', '2030-01-01T00:00', '--end', '2030-01-01T01:00', '--text', $x],
    [qr/issuer add: --jwks is not valid UTF-8/, 'issuer', 'add', 'https://sso.test', '--jwks',
     "$h/\xff.json", '--audience', 'a'],
    [qr/backup: FILE is not valid UTF-8/, 'backup', "$h/\xff.db"],
    [qr/restore: FILE has a control character/, 'restore', "$h/a\nb.db"],
);
for my $v (@verbs) {
    my ($want, @args) = @$v;
    $t->ctl_bad($want, @args);
}
{
    local $ENV{LGSP_OPERATOR} = "op\xff";
    $t->ctl_bad(qr/environment: \$LGSP_OPERATOR is not valid UTF-8/, 'agency', 'add', 'H26.9',
                '--name', 'x');
}
is($t->ctl_ok('agency', 'add', 'H26.8', '--name', "Tab\tand H\xc3\xa0 N\xe1\xbb\x99i \xf0\x9f\x98\x80"),
   'H26.8', 'a tab and any well-formed character are text');

my $ag = json_ok('agency list', 'agency', 'list');
is(scalar @$ag, 2, 'nothing refused was stored');
my $sys = json_ok('system list', 'system', 'list');
ok(!$sys->[0]{suspended}, 'the system is not suspended');
json_ok('log', 'log');

# text stored before lgspctl refused it still gives valid JSON
system('sqlite3', "$h/lgsp.db", "UPDATE agencies SET name = CAST(X'4861ff' AS TEXT)"
       . " WHERE code = 'H26'") == 0 or die 'sqlite3';
$ag = json_ok('agency list over a name stored malformed', 'agency', 'list');
is($ag->[0]{name}, "Ha\x{fffd}", '  the bad byte shows as U+FFFD');

# --- forms ------------------------------------------------------------------------
# a valid form with one string made bad; the raw bytes go in as they are
my $nforms = 0;
sub bad_form {
    my ($fixture, $from, $to) = @_;
    my $text = slurp("$FX/$fixture");
    $text =~ s/\Q$from\E/$to/ or die "$fixture: no $from";
    return spew("$h/bad-" . ++$nforms . "-$fixture", $text);
}
my @forms = (
    ['service', 'add', '--form', bad_form('form01-citizens.json', '"Tra c', "\"Tra \xffc")],
    qr/line 14: not valid UTF-8/,
    ['service', 'add', '--form', bad_form('form01-citizens.json', '"Tra c', "\"Tra \xed\xa0\x80")],
    qr/line 14: not valid UTF-8/,
    ['service', 'add', '--form', bad_form('form01-citizens.json', '"Tra c', '"Tra \u001b[2Jc')],
    qr{/service/name: has a control character},
    ['service', 'add', '--form', bad_form('form01-citizens.json', '"GET /people', '"GET \u0000/people')],
    qr/line \d+: a string holds \\u0000/,
    ['service', 'add', '--print-form', '--form',
     bad_form('form01-citizens.json', '"unit"', "\"u\\u009bnit\"")],
    qr{/contact: a field name is not valid UTF-8 or has a control character},
    ['request', 'add', '--form', bad_form('form02-minimal.json', '"Tra c', "\"Tra \xe1\x80")],
    qr/line \d+: not valid UTF-8/,
    ['request', 'add', '--form', bad_form('form02-minimal.json', '"Tra c', '"Tra\rc')],
    qr{/purpose: has a control character},
    ['system', 'commitment', 'hr-db', '--form',
     bad_form('form03-hr-db.json', '"Lê Văn C"', "\"L\xc3\"")],
    qr/line 8: not valid UTF-8/,
);
while (my ($args, $want) = splice @forms, 0, 2) {
    my $err = $t->ctl_refused($want, @$args);
    unlike($err, qr/[\x00-\x08\x0b-\x1f\x7f]/, '  and the message holds no control byte');
}
# a newline inside a form's text is fine: descriptions run over lines
my $multi = bad_form('form02-minimal.json', '"Tra c', '"Tra\nc');
like(($t->ctl('request', 'add', '--form', $multi))[2], qr/no such system|citizen-app/,
     'a form string with a newline passes the text check');

# --- CSV never hands a spreadsheet a formula ------------------------------------------
my $base = 1_772_000_000_000;
my @rids = ('-2+3', '=HYPERLINK("http://x")', '+1', '@SUM(A1)', 'plain-1');
my $i = 0;
my $tsv = join '', map {
    $i++;
    join("\t", sprintf('csv%029d', $i), $_, $base + $i, 1000, 'H26', 'hr-db', 'H26', 'hr-db',
         'svc', 'v1', 'production', 200, 200, '00', '', 1, 2) . "\n"
} @rids;
my ($rc, $out, $err) = $t->spoolgen('--tsv', spew("$h/records.tsv", $tsv));
is($rc, 0, 'records written') or diag($err);
ok($t->wait_until(sub { $t->audit_sql('SELECT count(*) FROM audit_records') == @rids }, 30),
   'records ingested');
my $csv = $t->ctl_ok('audit', 'export', '--format', 'csv', '--service', 'svc');
my %field = map { my ($rid) = /^\d+,"[^"]*",("(?:[^"]|"")*")/; ($rid // '') => 1 } split /\r\n/, $csv;
for my $want ('"\'-2+3"', '"\'=HYPERLINK(""http://x"")"', '"\'+1"', '"\'@SUM(A1)"', '"plain-1"') {
    ok($field{$want}, "CSV request id $want");
}
my $jx = strict_json($t->ctl_ok('audit', 'export', '--format', 'json', '--service', 'svc'));
is_deeply([sort map { $_->{request_id} } @$jx], [sort @rids], 'JSON export keeps the ids as they are');
like($t->ctl_ok('report', 'daily', '--date', '2026-02-25', '--format', 'csv'),
     qr/^"H26","H26","svc","v1",5,/m, 'report CSV: text fields through the same writer');

# --- reconcile escapes a partner's bytes -----------------------------------------------
my $partner = spew("$h/partner.csv", "transaction_id,time,status\n"
                   . "csv00000000000000000000000000001,2026-02-25T06:13:20Z,\x1b]0;owned\x07\x1b[2J\n");
($rc, $out, $err) = $t->ctl('reconcile', $partner);
is($rc, 2, 'reconcile: a bad status is a bad file (exit 2)');
like($err, qr/partner\.csv:2: status "\\x1b\]0;owned\\x07\\x1b\[2J" is not an HTTP status/,
     '  the control bytes are shown escaped');
unlike($err, qr/[\x07\x1b]/, '  and none reaches the terminal');
$partner = spew("$h/partner2.csv", "transaction_id,time,st\xc3\n");
($rc, $out, $err) = $t->ctl('reconcile', $partner);
like($err, qr/unknown column "st\\xc3"/, 'a malformed byte in a column name is escaped too');

$t->stop;
done_testing;
