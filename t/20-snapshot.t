#!/usr/bin/perl
# Snapshots: a registry change reaches every worker within a second without
# a reload; a killed lgspd leaves the last generation serving; a bad file is
# refused and the previous one kept; a reload's new workers serve the
# current generation at once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);
use LGSP::Test;

my $t = LGSP::Test->new(workers => 2);
my $home = $t->home;

# A status answer over a new connection: reuseport spreads new connections
# over the workers, so polling this way hears from each of them.
sub status {
    my $r = HTTP::Tiny->new(timeout => 5, keep_alive => 0)
        ->get($t->url('/lgsp/status'));
    return $r->{success} ? eval { decode_json($r->{content}) } : undef;
}

# Poll until every pid in $pids (or any 2 pids) answered with a generation
# for which $want->($status) holds.  Returns the seen pids.
sub until_workers {
    my ($want, $timeout) = @_;
    my %seen;
    my $end = time + $timeout;
    while (time < $end) {
        my $s = status() or next;
        $seen{$s->{pid}} = 1 if $want->($s);
        return [sort keys %seen] if keys %seen >= 2;
        sleep 0.01;
    }
    return [sort keys %seen];
}

sub sql {
    my ($q) = @_;
    system('sqlite3', "$home/lgsp.db", ".timeout 5000", $q) == 0
        or die "sqlite3: $q";
}

sub control_generation {
    open my $fh, '<', "$home/snapshots/current" or return 0;
    binmode $fh;
    read $fh, my $buf, 16;
    return 0 unless substr($buf, 0, 8) eq 'LGSPGEN1';
    return unpack('Q<', substr($buf, 8, 8));
}

my $s = status();
my $g0 = $s->{generation};
cmp_ok($g0, '>=', 1, 'a generation is served at start');
is($g0, control_generation(), 'the one in snapshots/current');
ok(-f "$home/snapshots/snap.$g0", "snap.$g0 on disk");
is(scalar @{ $s->{workers} }, 2, 'two workers in the shared table');
is_deeply([map { $_->{generation} } @{ $s->{workers} }], [$g0, $g0],
          'both serve it');
is($s->{refused_snapshots}, 0, 'nothing refused');
is($s->{counts}{keys}, 1, 'counts: the first signing key');
is($s->{counts}{agencies}, 0, 'counts: no agency yet');
cmp_ok($s->{snapshot_age_ms}, '>=', 0, 'snapshot age');

my $st = decode_json($t->ctl_ok('status', '--json'));
is($st->{snapshot}{generation}, $g0, 'lgspctl status: published generation');
ok($st->{snapshot}{workers_current}, 'lgspctl status: every worker has it');
is(scalar @{ $st->{snapshot}{workers} }, 2, 'lgspctl status: two workers');

# --- a committed change reaches both workers within a second -------------
my $t0 = time;
# one transaction: two commits could be published as two generations, and
# the test would read the first while the second is on its way
sql("BEGIN; INSERT INTO agencies (code, name, created_at) VALUES ('H26', 'Ha Noi', 0);"
    . " INSERT INTO agency_codes (code, agency_id, kind) VALUES ('H26', 1, 'canonical'); COMMIT;");
my $pids = until_workers(sub { $_[0]{generation} > $g0 && $_[0]{counts}{agencies} == 1 }, 1);
my $took = time - $t0;
is(scalar @$pids, 2, 'both workers serve the change') or diag(explain(status()));
cmp_ok($took, '<=', 1.0, 'within 1 s (SPEC §7)');
$s = status();
my $g1 = $s->{generation};
cmp_ok($g1, '>', $g0, "generation moved: $g0 -> $g1");

# --- lgspd killed: the last generation keeps serving ---------------------
$t->stop_lgspd('KILL');
sleep 0.3;
$s = status();
is($s->{generation}, $g1, 'lgspd killed: still serving the last generation');
ok(!$s->{ready}, 'not ready without lgspd');
is($s->{counts}{agencies}, 1, 'with its contents');

# --- a garbage file planted as the newest snapshot -----------------------
my $bad = $g1 + 1;
open my $fh, '>', "$home/snapshots/snap.$bad" or die;
print $fh "LGSPSNP1" . ("\xAB" x 4000);
close $fh;
open $fh, '+<', "$home/snapshots/current" or die;
binmode $fh;
seek $fh, 8, 0;
print $fh pack('Q<', $bad);
close $fh;
ok($t->wait_until(sub { (status() // {})->{refused_snapshots} >= 2 }, 5),
   'both workers refused it');
$s = status();
is($s->{generation}, $g1, 'the previous generation keeps serving');
is_deeply([map { $_->{generation} } @{ $s->{workers} }], [$g1, $g1],
          'in both workers');
my @err = grep { /snap\.$bad" refused/ } split /\n/, $t->slurp($t->error_log);
ok(scalar @err, 'an error-log line names the refused file');
like($err[0] // '', qr/\[error\]/, 'at [error] level');
my @again = (status(), status(), status());
is($again[-1]{refused_snapshots}, $s->{refused_snapshots},
   'refused once per worker, not at every tick');

# --- lgspd back: generations keep growing past what is on disk ------------
$t->start_lgspd;
ok($t->wait_until(sub { my $x = status(); $x && $x->{generation} > $bad && $x->{ready} }, 5),
   'lgspd restarted: a generation past the planted one is served');
my $g2 = control_generation();
cmp_ok($g2, '>', $bad, "restart published $g2, never reusing $bad");

# --- old files go ---------------------------------------------------------
for my $i (1 .. 6) {
    sql("INSERT INTO agencies (code, name, created_at) VALUES ('H26.$i', 'Dept $i', 0);");
    my $want = $i + 1;
    $t->wait_until(sub { (status() // {})->{counts}{agencies} == $want }, 5);
}
my @files = glob("$home/snapshots/snap.*");
my $newest = control_generation();
cmp_ok(scalar @files, '<=', 5, 'at most keep_snapshots (4) + 1 files kept')
    or diag("@files");
ok(-f "$home/snapshots/snap.$newest", 'the current file is kept');
ok(!-e "$home/snapshots/snap.$bad", 'the planted one was pruned');
ok(!grep(/\.tmp$/, @files), 'no .tmp left behind');

# --- reload: the new workers serve the current generation at once -------
my %old = map { $_->{pid} => 1 } @{ status()->{workers} };
$t->reload_nginx;
my %new;
my $end = time + 10;
while (time < $end && keys %new < 2) {
    my $x = status() or next;
    next if $old{$x->{pid}};
    $new{$x->{pid}} = $x->{generation};
}
is(scalar keys %new, 2, 'two new workers answer after the reload');
is_deeply([values %new], [$newest, $newest],
          'each serves the current generation from its first answer');
$s = status();
is(scalar @{ $s->{workers} }, 2, 'the table lists the new workers only');
ok(!grep({ $old{$_->{pid}} } @{ $s->{workers} }), 'no old pid in it');
cmp_ok($s->{refused_snapshots}, '>=', 2, 'the refused counter survived the reload');

$st = decode_json($t->ctl_ok('status', '--json'));
ok($st->{snapshot}{workers_current}, 'lgspctl status: every worker current after reload');
is_deeply([sort map { $_->{pid} } @{ $st->{snapshot}{workers} }], [sort keys %new],
          'lgspctl status lists the new workers');

$t->stop;
done_testing;
