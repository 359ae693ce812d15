#!/usr/bin/perl
# The audit log against someone who can write audit.db (SPEC §9: "cannot
# rewrite history without the signing key"; issue 16): seals every
# audit_seal_interval and on a clean stop, linked and copied to
# archive/checkpoints.log; a forger who recomputes the chain and deletes
# the seals, or signs with a key of their own put into lgsp.db, or cuts the
# tail, is caught by `audit verify`, gets no new seal from `audit seal`,
# and lgspd stops ingesting (records wait in the spool, none is lost).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use JSON::PP;
use Time::HiRes qw(sleep);
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1, start => 0);
my $h = $t->home;
my $ck = "$h/archive/checkpoints.log";

sub sql   { $t->audit_sql(@_) }
sub count { sql("SELECT count(*) FROM audit_records") }
sub head  { sql("SELECT head_seq FROM audit_chain") }
sub sealed_seq { sql("SELECT coalesce(max(seq), 0) FROM audit_seals") }
sub spool_files {
    opendir my $d, "$h/spool" or die;
    return grep { /^seg\./ } readdir $d;
}
sub interval { $t->lgspd_conf(audit_seal_interval => $_[0]) }
sub verify { my ($rc, $out, $err) = $t->ctl('audit', 'verify'); return ($rc, "$out$err") }
sub write_recs {
    my ($n, $tag) = @_;
    my ($rc, undef, $err) = $t->spoolgen($n, '--tag', $tag);
    is($rc, 0, "$n records written to the spool ($tag)") or diag($err);
}
sub ingested {
    my ($n) = @_;
    ok($t->wait_until(sub { count() == $n && !spool_files() }, 30), "$n records in audit.db")
        or diag(count());
}
sub lines { scalar(() = $t->slurp($ck) =~ /^seal /mg) }
sub lgspd_log { $t->slurp("$h/lgspd.out") }

# ---- seals every interval, and on a clean stop
interval(1);
$t->start_lgspd;
write_recs(300, 'a');
ingested(300);
ok($t->wait_until(sub { sealed_seq() == 300 }, 10), 'sealed within the interval (1 s)');
my ($rc, $msg) = verify();
is($rc, 0, 'verify OK');
like($msg, qr/^OK: 300 records, \d+ seals\n\z/, '... with nothing unsealed') or diag($msg);
is(lines(), sql("SELECT count(*) FROM audit_seals"), 'each seal has its line in the checkpoint');
is((stat $ck)[2] & 07777, 0640, 'the checkpoint is 0640');
like(lgspd_log(), qr/audit: seal \d+ at seq 300, digest [0-9a-f]{64} \(\d+ us\)/, 'lgspd logs the seal');

$t->stop_lgspd('TERM');
interval(3600);
$t->start_lgspd;
write_recs(10, 'b');           # lgspd seals at once what arrives first after a start
ingested(310);
ok($t->wait_until(sub { sealed_seq() == 310 }, 10), 'the first records after a start are sealed');
write_recs(40, 'c');
ingested(350);
is(sealed_seq(), 310, 'the next wait for the interval (an hour)');
($rc, $msg) = verify();
is($rc, 0, 'verify OK within the interval');
like($msg, qr/; 40 after the last seal, the oldest ingested [\d.]+ s ago/, '... naming the unsealed tail')
    or diag($msg);
$t->stop_lgspd('TERM');
is(sealed_seq(), 350, 'a clean stop seals the tail');

# a crash leaves a tail unsealed: verify fails once it is older than twice the interval
$t->start_lgspd;
write_recs(10, 'd');
ingested(360);
ok($t->wait_until(sub { sealed_seq() == 360 }, 10), 'sealed after the start');
write_recs(5, 'e');
ingested(365);
$t->stop_lgspd('KILL');
interval(1);
sleep 2.5;
($rc, $msg) = verify();
is($rc, 1, 'an unsealed tail older than twice the interval fails verify');
like($msg, qr/5 records after seq 360 are unsealed, .*more than twice audit_seal_interval/, '... saying so')
    or diag($msg);
$t->start_lgspd;
ok($t->wait_until(sub { sealed_seq() == 365 }, 10), 'lgspd seals what a crash left at once');
is((verify())[0], 0, 'verify OK again');
$t->stop_lgspd('TERM');

# a copy to come back to: sqlite3's online backup (lgspd may be running)
my $good = "$h/audit.good";
my $ck_good;
sub keep {
    unlink $good;
    system('sqlite3', "$h/audit.db", ".backup $good") == 0 or die 'backup';
    $ck_good = $t->slurp($ck);
}
sub restore {
    copy($good, "$h/audit.db") or die;
    unlink "$h/audit.db-wal", "$h/audit.db-shm";
    open my $f, '>', $ck or die; print $f $ck_good; close $f;
}
keep();

# ---- 1. a forged record, the chain recomputed, every seal deleted
sql("UPDATE audit_records SET consumer_org = 'H26.999', consumer_system = 'forged',"
    . " status = 200, result = '00' WHERE seq = 1");
$t->audit_rehash(1);
sql("DELETE FROM audit_seals");
($rc, $msg) = verify();
is($rc, 1, 'forged, rehashed, seals deleted: verify fails');
like($msg, qr/seal 1 of the checkpoint is missing from audit\.db/, '... on the checkpoint') or diag($msg);
my $n_lines = lines();
($rc, undef, my $err) = $t->ctl('audit', 'seal');
is($rc, 1, 'audit seal refuses to sign it');
like($err, qr/seals were added or removed behind lgspd's back/, '... saying why') or diag($err);
is(sql("SELECT count(*) FROM audit_seals"), 0, '... and adds no seal');
is(lines(), $n_lines, '... nor a checkpoint line');

# lgspd will not chain onto it, and keeps what arrives in the spool
$t->start_lgspd;
ok($t->wait_until(sub { lgspd_log() =~ /audit: .*ingestion and sealing stopped/ }, 10),
   'lgspd finds the forgery at start and stops ingesting');
write_recs(7, 'f');
sleep 1.5;    # many ticks of lgspd (watch_interval_ms 50)
is(count(), 365, 'nothing chained onto the forged head');
ok(scalar(spool_files()), 'the records wait in the spool');
ok($t->wait_until(sub { -s "$h/run/metrics.prom"
                        && $t->slurp("$h/run/metrics.prom") =~ /^lgsp_audit_chain_ok 0$/m }, 10),
   'metrics: lgsp_audit_chain_ok 0');
$t->stop_lgspd('TERM');
is(sql("SELECT count(*) FROM audit_seals"), 0, 'a stop does not seal a forged chain');

restore();
$t->start_lgspd;
ingested(372);
ok($t->wait_until(sub { sealed_seq() == 372 }, 10), 'restored: the waiting records arrive and are sealed');
is((verify())[0], 0, 'verify OK');
$t->stop_lgspd('TERM');
keep();

# ---- 2. a seal signed by the forger's own key, put into lgsp.db as retiring
{
    my $pem = "$h/attacker.pem";
    system('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
           '-out', $pem) == 0 or die;
    my $pub = `openssl pkey -in $pem -pubout -outform DER | od -An -tx1 -v`;
    $pub =~ s/\s+//g;
    my $kid = 'a77ac4e25e1f0bad';
    system('sqlite3', "$h/lgsp.db", "INSERT INTO signing_keys (kid, alg, public_der, state,"
           . " created_at, retiring_at) VALUES ('$kid', 'ES256', X'$pub', 'retiring',"
           . " strftime('%s','now') - 86400, strftime('%s','now'))") == 0 or die;

    sql("UPDATE audit_records SET consumer_system = 'forged' WHERE seq = 100");
    my $head = $t->audit_rehash(100);
    # the last seal re-made over the forged head, in audit.db and the checkpoint
    my ($last) = $t->slurp($ck) =~ /^(seal 2 [^\n]+)\n\z/m or die 'no last seal line';
    my (undef, undef, $id, $seq, $ms, undef, $prev) = split / /, $last;
    my $m = "LGSP-AUDIT-SEAL-2\0" . pack('Q>Q>', $id, $seq) . pack('H*', $head)
          . pack('Q>', $ms) . pack('H*', $prev) . $kid;
    open my $mf, '>:raw', "$h/seal.msg" or die; print $mf $m; close $mf;
    my $sig = `openssl dgst -sha256 -sign $pem $h/seal.msg | od -An -tx1 -v`;
    $sig =~ s/\s+//g;
    sql("UPDATE audit_seals SET head_hash = X'$head', kid = '$kid', alg = 'ES256',"
        . " signature = X'$sig' WHERE id = $id");
    my $forged = $t->slurp($ck);
    $forged =~ s/^seal 2 $id [^\n]+\n\z/seal 2 $id $seq $ms $head $prev $kid ES256 $sig\n/m or die;
    open my $f, '>', $ck or die; print $f $forged; close $f;
    ($rc, $msg) = verify();
    is($rc, 1, "a seal by a key from lgsp.db, not keys/: verify fails");
    like($msg, qr/seal $id at seq $seq: signed by key $kid, which is not among the keys pinned in \S+keys/,
         '... naming the key') or diag($msg);
    ($rc, undef, $err) = $t->ctl('audit', 'seal');
    is($rc, 1, 'audit seal will not chain onto it');
    like($err, qr/the last seal \($id, at seq $seq\) is not to be trusted/, '... saying why') or diag($err);
    restore();
    system('sqlite3', "$h/lgsp.db", "DELETE FROM signing_keys WHERE kid = '$kid'") == 0 or die;
    is((verify())[0], 0, 'restored: verify OK');
}

# ---- 3, 4. the tail cut or rewritten while lgspd runs
$t->start_lgspd;
write_recs(20, 'g');
ingested(392);
ok($t->wait_until(sub { sealed_seq() == 392 }, 10), 'sealed after the start');
write_recs(20, 'h');
ingested(412);
keep();
sql("DELETE FROM audit_records WHERE seq > 407");
$t->audit_rehash(408);        # no rows from 408: the head moves back to 407
is(head(), 407, 'the unsealed tail cut and the head moved back');
write_recs(3, 'i');
ok($t->wait_until(sub { lgspd_log() =~ /the chain head in audit\.db \(seq 407\) is not the one lgspd wrote \(seq 412\)/ }, 10),
   'lgspd notices at its next write') or diag(lgspd_log());
sleep 1;
is(count(), 407, 'and writes nothing after it');
ok(scalar(spool_files()), 'the records wait in the spool');
$t->stop_lgspd('TERM');
is(sealed_seq(), 392, 'nor seals it at stop');

# the sealed tail cut: lgspd is not needed to see it
sql("DELETE FROM audit_records WHERE seq > 380");
$t->audit_rehash(381);
($rc, $msg) = verify();
is($rc, 1, 'a sealed tail cut fails verify');
like($msg, qr/seal \d+ at seq 392: no such record in the chain/, '... at the seal that covered it') or diag($msg);

# ---- seals removed or replaced one at a time
restore();
$t->start_lgspd;
ingested(415);                 # 412 and the 3 that waited
ok($t->wait_until(sub { sealed_seq() == 415 }, 10), 'restored: sealed');
$t->stop_lgspd('TERM');
keep();
my $nseals = sql("SELECT count(*) FROM audit_seals");
cmp_ok($nseals, '>=', 4, "$nseals seals to work with");
my $mid = int($nseals / 2);

sql("DELETE FROM audit_seals WHERE id = $mid");
($rc, $msg) = verify();
is($rc, 1, 'a seal deleted from audit.db: verify fails');
like($msg, qr/seal $mid of the checkpoint is missing from audit\.db/, '... naming it') or diag($msg);
restore();

sql("DELETE FROM audit_seals WHERE id = $nseals");
($rc, $msg) = verify();
is($rc, 0, 'the last seal alone missing from audit.db is what a crash leaves: OK');
($rc) = $t->ctl('audit', 'seal');
is(sql("SELECT count(*) FROM audit_seals WHERE id = $nseals"), 1, 'audit seal copies it back');
restore();

{
    my $c = $t->slurp($ck);
    $c =~ s/^seal 2 $mid [^\n]+\n//m or die;
    open my $f, '>', $ck or die; print $f $c; close $f;
    ($rc, $msg) = verify();
    is($rc, 1, 'a line removed from the checkpoint: verify fails');
    like($msg, qr/seal|checkpoint/, '... on the seals') or diag($msg);
    restore();

    unlink $ck;
    ($rc, $msg) = verify();
    is($rc, 1, 'the checkpoint removed: verify fails');
    ($rc, undef, $err) = $t->ctl('audit', 'seal');
    is($rc, 1, '... and audit seal refuses');
    like($err, qr/checkpoint was removed/, '... saying so') or diag($err);
    restore();
}
is((verify())[0], 0, 'restored: verify OK');

$t->stop;
done_testing();
