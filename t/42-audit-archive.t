#!/usr/bin/perl
# The audit archive (SPEC §9 "Kept"): records older than audit_hot_days move
# to one sealed file per city day (UTC+7); list/export read archive then hot;
# verify checks files (manifest hash, link, signature, body digest, chain)
# and names the bad one; retention deletes old files and records it; kill -9
# of lgspd while a large day is archived loses and doubles nothing.
# Records are back-dated by the test tool spoolgen (`--days-ago D`: noon of the
# city day D days ago, 1 ms apart).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Compress::Zlib;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(sleep);
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1, start => 0);
my $h = $t->home;
my $CTL = $LGSP::Test::CTL;

sub conf { $t->lgspd_conf(audit_hot_days => $_[0], audit_retention_days => $_[1]) }
conf(2, 30);

sub sql { $t->audit_sql(@_) }
sub hot { sql("SELECT count(*) FROM audit_records") }
sub day { strftime('%Y-%m-%d', gmtime(time + 7 * 3600 - $_[0] * 86400)) }
sub file { "$h/archive/audit-" . day($_[0]) . ".lgar" }
sub spool_empty {
    opendir my $d, "$h/spool" or die;
    return !grep { /^seg\./ } readdir $d;
}
sub write_recs {
    my ($n, $tag, $ago) = @_;
    my ($rc, $out, $err) = $t->spoolgen($n,
                                   '--tag', $tag, '--days-ago', $ago);
    is($rc, 0, "wrote $n records of $ago days ago ($tag)") or diag($err);
}
sub ctl_json {
    my ($rc, $out, $err) = $t->ctl(@_);
    return $rc == 0 ? decode_json($out) : (diag($err), []);
}
sub verify { my ($rc, $out, $err) = $t->ctl('audit', 'verify'); return ($rc, "$out$err") }

# ---- days 6, 5, 4 and 3 (large) ago are archived; 1 and 0 stay hot ------
# lgspd is killed (-9) again and again while it ingests and archives them.
my $big = 40000;
my %n = (6 => 100, 5 => 150, 4 => 120, 3 => $big, 1 => 50, 0 => 30);
my $total = 0;
$total += $_ for values %n;
write_recs($n{$_}, "d$_", $_) for 6, 5, 4, 3, 1, 0;
$t->start_lgspd;
sub archived {
    spool_empty() && sql("SELECT count(*) FROM audit_archives") == 4
        && sql("SELECT base_seq FROM audit_chain") == $total - 80;
}
my ($kills, $mid) = (0, 0);
for my $i (1 .. 40) {
    last if archived();
    sleep(0.05 + rand(0.4));
    $mid++ if -e file(3) . ".tmp" || (-e file(3) && hot() > 80);
    $t->stop_lgspd('KILL');
    $kills++;
    $t->start_lgspd;
}
diag("kill -9 of lgspd $kills times, $mid in the middle of the large day's archive");
ok($t->wait_until(\&archived, 120),
   'four days archived, audit.db keeps the 80 hot records')
    or diag("hot " . hot() . ", archives " . sql("SELECT day FROM audit_archives"));
is(hot(), 80, 'audit.db holds exactly the hot records');
{
    my $e = ctl_json('audit', 'export', '--format', 'json');
    my %txn;
    $txn{$_->{transaction_id}}++ for @$e;
    is(scalar @$e, $total, "export after the kills: all $total records, none lost");
    is(scalar keys %txn, $total, '... none doubled');
    is(scalar(grep { /^d3/ } keys %txn), $big, "... all $big of the large day");
    is_deeply([map { $_->{seq} } @$e], [1 .. $total], '... in chain order');
    my ($rc, $csv) = $t->ctl('audit', 'export', '--format', 'csv', '--result', '01');
    my @lines = split /\r\n/, $csv;
    my $denied = 0;
    $denied += int($_ / 5) for values %n;
    is(scalar @lines - 1, $denied, "export csv with a filter: the $denied denied records");
}

ok(-f file($_), "archive file for " . day($_)) for 6, 5, 4, 3;
ok(!-e file($_), "no archive for the hot day " . day($_)) for 1, 0;
opendir my $ad, "$h/archive" or die;
is_deeply([grep { /\.tmp$/ } readdir $ad], [], 'no temporary file left');
is(sql("SELECT group_concat(day || ':' || records || ':' || first_seq || '-' || last_seq, ' ')"
       . " FROM (SELECT * FROM audit_archives ORDER BY first_seq)"),
   join(' ', day(6) . ':100:1-100', day(5) . ':150:101-250', day(4) . ':120:251-370',
        day(3) . ":$big:371-" . (370 + $big)),
   'audit_archives: one row per day, contiguous chain ranges');
is(sql("SELECT base_seq || ' ' || head_seq FROM audit_chain"), ($total - 80) . " $total",
   'the hot chain continues from the last archived record');
is(sql("SELECT count(*) FROM audit_records WHERE transaction_id LIKE 'd6%'"
       . " OR transaction_id LIKE 'd5%' OR transaction_id LIKE 'd4%' OR transaction_id LIKE 'd3%'"), 0,
   'no archived record left in audit.db');
is(sql("SELECT min(seq) FROM audit_records"), $total - 79, 'hot rows follow the last archived one');
{
    open my $f, '<:raw', file(5) or die;
    local $/;
    my $b = <$f>;
    like($b, qr/^LGSP-AUDIT-ARCHIVE 1\n/, 'file starts with the magic line');
    like($b, qr/day ${\ day(5)}\nfirst_seq 101\nlast_seq 250\nrecords 150\n/,
         'its manifest names the day and the seq range');
    unlike($b, qr/so-tp-portal/, 'records are compressed (no plain text)');
}

# ---- list and export read both --------------------------------------------
for my $ago (6, 5, 4, 3, 1) {
    my $d = day($ago);
    my $l = ctl_json('--json', 'audit', 'list', '--since', "${d}T00:00",
                     '--until', "${d}T23:59:59.999", '--limit', 100000);
    my %txn = map { $_->{transaction_id} => 1 } @$l;
    is(scalar @$l, $n{$ago}, "list over $d: exactly its $n{$ago} records");
    is(scalar(grep { /^d$ago/ } keys %txn), $n{$ago}, '... each once, all of that day');
}
{
    my $d = day(5);
    my $l = ctl_json('--json', 'audit', 'list', '--since', "${d}T12:00:00.010",
                     '--until', "${d}T12:00:00.019", '--consumer', 'ubnd-qlvb');
    is(scalar @$l, 5, 'time range inside an archived day plus a consumer filter');
    $l = ctl_json('--json', 'audit', 'list', '--transaction', 'd4000000000000000000000000000007');
    is(scalar @$l, 1, 'one archived record by transaction id');
    is($l->[0]{seq}, 258, '... at its chain position');
    $l = ctl_json('--json', 'audit', 'list', '--limit', 7);
    is(scalar @$l, 7, '--limit stops inside the archive');
    is($l->[0]{seq}, 1, '... oldest first');
}
$t->ctl_ok('audit', 'seal');
my ($rc, $msg) = verify();
is($rc, 0, 'verify: archive and hot chain are good') or diag($msg);
like($msg, qr/^OK: $total records, \d+ seals/, "... all $total records");

# ---- tampering names the file ---------------------------------------------
sub slurp_raw { open my $f, '<:raw', $_[0] or die; local $/; my $b = <$f>; $b }
sub spew_raw { open my $f, '>:raw', $_[0] or die; print $f $_[1]; close $f }
my $f5 = file(5);
my $orig = slurp_raw($f5);
my $name5 = "audit-" . day(5) . ".lgar";
{
    my $b = $orig;
    substr($b, 40, 1) = chr(ord(substr($b, 40, 1)) ^ 0x01);
    spew_raw($f5, $b);
    ($rc, $msg) = verify();
    is($rc, 1, 'a flipped byte in the compressed records: verify fails');
    like($msg, qr/archive file \Q$name5\E: the compressed records do not match/,
         '... naming the file') or diag($msg);
    ($rc) = $t->ctl('audit', 'list', '--since', day(5));
    is($rc, 1, 'list refuses to read a damaged archive');
    spew_raw($f5, $orig);
    is((verify())[0], 0, 'restored: verify passes');
}
{
    # re-compressed with one record changed, the manifest's digest updated
    my $at = substr($orig, -21, 20) + 0;
    my $body = substr($orig, 21, $at - 21);
    my $manifest = substr($orig, $at, length($orig) - 33 - $at);
    my $plain = uncompress($body);
    ok(defined $plain && $plain =~ s/H26\.107/H26.108/, 'changed a record');
    my $nb = compress($plain);
    $manifest =~ s/^body_bytes \d+$/"body_bytes " . length($nb)/me;
    $manifest =~ s/^body_sha256 \w+$/"body_sha256 " . Digest::SHA::sha256_hex($nb)/me;
    my $nat = 21 + length($nb);
    spew_raw($f5, substr($orig, 0, 21) . $nb . $manifest . sprintf("manifest_at %020d\n", $nat));
    ($rc, $msg) = verify();
    is($rc, 1, 're-compressed with a changed record: verify fails');
    like($msg, qr/archive file \Q$name5\E: its manifest does not match the hash recorded/,
         '... naming the file') or diag($msg);

    # and with the recorded hash changed too: only the key could sign it
    my ($signed) = $manifest =~ /\A(.*\nalg [^\n]*\n)/s;
    my $old = sql("SELECT manifest_sha256 FROM audit_archives WHERE file = '$name5'");
    sql("UPDATE audit_archives SET manifest_sha256 = '" . sha256_hex($signed)
        . "' WHERE file = '$name5'");
    ($rc, $msg) = verify();
    is($rc, 1, '... and its hash in audit_archives: verify still fails');
    my ($day5) = $name5 =~ /audit-(\d{4}-\d\d-\d\d)\.lgar/;
    like($msg, qr/the archive of $day5 is not the one the checkpoint recorded/,
         '... on the checkpoint outside audit.db') or diag($msg);

    # an attacker who also writes archive/: only the key could sign it
    my $ck = "$h/archive/checkpoints.log";
    my $was = slurp_raw($ck);
    my $new = sha256_hex($signed);
    (my $forged = $was) =~ s/^(archive $day5 .*?) $old /$1 $new /gm or die "no line for $day5";
    spew_raw($ck, $forged);
    ($rc, $msg) = verify();
    is($rc, 1, '... and its line in the checkpoint too: verify still fails');
    like($msg, qr/archive file \Q$name5\E: (bad signature|does not link)/,
         '... on the signature or the next link') or diag($msg);
    spew_raw($ck, $was);
    sql("UPDATE audit_archives SET manifest_sha256 = '$old' WHERE file = '$name5'");
    spew_raw($f5, $orig);
}
{
    rename $f5, "$f5.away" or die;
    ($rc, $msg) = verify();
    is($rc, 1, 'a missing archive file: verify fails');
    like($msg, qr/archive file \Q$name5\E: No such file/, '... naming it') or diag($msg);
    rename "$f5.away", $f5 or die;
}
{
    my $row = sql("SELECT id FROM audit_archives WHERE file = '$name5'");
    sql("UPDATE audit_archives SET first_seq = -first_seq WHERE id = $row");
    ($rc, $msg) = verify();
    is($rc, 1, 'an archive dropped from the list: verify fails');
    like($msg, qr/archive is missing/, '... saying so') or diag($msg);
    sql("UPDATE audit_archives SET first_seq = -first_seq WHERE id = $row");
}
is((verify())[0], 0, 'all restored: verify passes');

# ---- retention ------------------------------------------------------------
$t->stop_lgspd('TERM');
conf(2, 5);
$t->start_lgspd;
ok($t->wait_until(sub { !-e file(6) }, 20), 'retention: the file of 6 days ago is deleted');
ok(-f file(5) && -f file(4), '... the newer ones are kept');
like(sql("SELECT deleted_ms FROM audit_archives WHERE day = '" . day(6) . "'"), qr/^\d+$/,
     '... and the deletion is recorded');
($rc, $msg) = verify();
is($rc, 0, 'verify passes after retention') or diag($msg);
like($msg, qr/^OK: ${\ ($total - 100)} records/, '... over the records kept');
{
    my $l = ctl_json('--json', 'audit', 'list', '--since', day(6), '--until', day(6) . 'T23:59');
    is(scalar @$l, 0, 'list over the deleted day: nothing');
}

# a day inside retention erased as the archive job would have: its file
# deleted, its row marked deleted (issue 16)
for my $how (['marked deleted', "UPDATE audit_archives SET deleted_ms = strftime('%s','now') * 1000"],
             ['gone from audit.db', "DELETE FROM audit_archives"])
{
    my $d = day(4);
    my $backup = "$h/audit.before-erase";
    system('sqlite3', "$h/audit.db", ".backup $backup") == 0 or die;
    rename file(4), file(4) . '.away' or die;
    sql("$how->[1] WHERE day = '$d'");
    ($rc, $msg) = verify();
    is($rc, 1, "an archive inside retention erased ($how->[0]): verify fails");
    like($msg, qr/the archive of $d .*$how->[0] but must be kept until \d{4}-\d\d-\d\d/,
         '... naming the day') or diag($msg);
    $t->stop_lgspd('TERM');
    system('sqlite3', "$h/audit.db", ".restore $backup") == 0 or die;
    rename file(4) . '.away', file(4) or die;
    $t->start_lgspd;
}
is((verify())[0], 0, 'restored: verify passes');

opendir $ad, "$h/archive" or die;
is_deeply([grep { /\.tmp$/ } readdir $ad], [], 'no temporary file left');

$t->stop;
done_testing();
