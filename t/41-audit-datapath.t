#!/usr/bin/perl
# Audit on the real data path (SPEC §9): one record per call that reached
# the module, allowed or denied, with its fields and never the query; and
# none lost or duplicated when lgspd or a worker is killed mid-run.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 2);
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');

sub call {
    my ($path, %h) = @_;
    return $t->http('GET', $path, headers => \%h);
}

sub records {
    my (@filters) = @_;
    my ($rc, $out, $err) = $t->ctl('audit', 'list', '--json', '--limit', '1000000', @filters);
    # called while polling, so a test only when it fails: the plan stays
    # the same however many polls a run needs
    if ($rc != 0) {
        fail('audit list');
        diag($err);
    }
    return @{ decode_json($out) };
}

sub wait_count {
    my ($n) = @_;
    $t->wait_until(sub { (() = records()) >= $n }, 20);
}

# --- one of each kind -------------------------------------------------
my %sent;
my $r = call('/api/citizen/v1/people/7?cccd=001099012345', Authorization => "Bearer $tok",
             'X-LGSP-Request-Id' => 'partner-42');
is($r->{status}, 200, 'allowed call');
$sent{ $r->{headers}{'x-lgsp-transaction-id'} } = [200, '', '00'];
for my $c (['/api/citizen/v1/x', undef, 401, 'missing_token'],
           ['/api/citizen/v1/x', 'Bearer junk', 401, 'invalid_token'],
           ['/api/nosuch/v1/x', "Bearer $tok", 404, 'unknown_service'],
           ['/api/citizen/v1/%2e%2e/x', "Bearer $tok", 400, 'invalid_path']) {
    my ($path, $auth, $status, $reason) = @$c;
    $r = call($path, defined $auth ? (Authorization => $auth) : ());
    is($r->{status}, $status, "$reason call");
    $sent{ $r->{headers}{'x-lgsp-transaction-id'} } = [$status, $reason, '01'];
}
ok(wait_count(5), 'records ingested');
my %got = map { $_->{transaction_id} => $_ } records();
is(scalar keys %got, 5, 'exactly one record per call');
for my $id (sort keys %sent) {
    my $rec = $got{$id};
    ok($rec, "record for $id") or next;
    is($rec->{status}, $sent{$id}[0], "status $sent{$id}[0]");
    is($rec->{reason} // '', $sent{$id}[1], "reason '$sent{$id}[1]'");
    is($rec->{result}, $sent{$id}[2], "result $sent{$id}[2]");
}
my ($ok) = grep { $_->{status} == 200 } values %got;
is($ok->{consumer_org}, 'H26.108', 'consumer org');
is($ok->{consumer_system}, 'cons-sys', 'consumer system');
is($ok->{client_id}, $d->{cred}{production}{client_id}, 'client id');
is($ok->{provider_org}, 'H26.107', 'provider org');
is($ok->{provider_system}, 'prov-sys', 'provider system');
is($ok->{service}, 'citizen', 'service');
is($ok->{version}, 'v1', 'version');
is($ok->{route}, 'citizen/v1', 'route is service/version');
is($ok->{environment}, 'production', 'environment');
is($ok->{request_id}, 'partner-42', 'client request id');
is($ok->{upstream_status}, 200, 'upstream status');
ok($ok->{bytes_out} > 0 && $ok->{bytes_in} > 0, 'bytes in and out');
my $all = $t->ctl_ok('audit', 'export', '--format', 'json');
unlike($all, qr/cccd|001099012345/, 'the query string is never recorded');

# --- the backlog shows while lgspd is down ---------------------------
$t->stop_lgspd('TERM');
call('/api/citizen/v1/while-down', Authorization => "Bearer $tok") for 1 .. 7;
my $st = $t->get_json('/lgsp/status');
cmp_ok($st->{audit}{backlog}, '>=', 7, "status shows the spool backlog ($st->{audit}{backlog})");
is($st->{audit}{dropped}, 0, 'nothing dropped');
my ($brc, $bout) = $t->ctl('status', '--json');
cmp_ok(decode_json($bout)->{audit_backlog}, '>=', 7, 'lgspctl status shows it too');
$t->start_lgspd;
ok($t->wait_until(sub { ($t->get_json('/lgsp/status')->{audit}{backlog} // -1) == 0 }, 20),
   'the backlog drains once lgspd is back');

# --- lossless under kill -9 -------------------------------------------
# $clients processes send $each calls each; returns (responses received,
# error statuses) once all are done.  $during runs while they send.
sub load {
    my ($clients, $each, $during) = @_;
    my @pids;
    for my $c (1 .. $clients) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
            my ($got, $errors) = (0, 0);
            for (1 .. $each) {
                my $x = $ua->get($t->url('/api/citizen/v1/load'),
                                 { headers => { Authorization => "Bearer $tok" } });
                next if $x->{status} == 599;     # no answer: a killed worker
                $got++;
                $errors++ if $x->{status} != 200;
            }
            open my $fh, '>', "$t->{home}/load.$c" or die;
            print $fh "$got $errors\n";
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    $during->();
    waitpid $_, 0 for @pids;
    my ($got, $errors) = (0, 0);
    for my $c (1 .. $clients) {
        my ($g, $e) = split ' ', $t->slurp("$t->{home}/load.$c");
        $got += $g; $errors += $e;
    }
    return ($got, $errors);
}

sub no_dups {
    my %seen;
    my @r = records();
    return (scalar(grep { $seen{ $_->{transaction_id} }++ } @r), scalar @r);
}

my $before = records();
my ($got, $errors) = load(4, 5000, sub {
    sleep 1.5;
    $t->stop_lgspd('KILL');      # mid-run, mid-batch
    sleep 1;
    $t->start_lgspd;
});
is($got, 20000, 'every call of the 20,000 answered while lgspd died');
is($errors, 0, 'all of them 200');
ok(wait_count($before + $got), 'ingested after the restart');
sleep 1;
my ($dups, $count) = no_dups();
is($count - $before, $got, 'records = calls: nothing lost across kill -9 of lgspd');
is($dups, 0, 'no duplicate transaction id');

$before = $count;
($got, $errors) = load(4, 1500, sub {
    sleep 1;
    my @w = map { $_->{pid} } @{ $t->get_json('/lgsp/status')->{workers} };
    $t->{expect_alert} = qr/worker process \d+ exited on signal 9/;
    kill 'KILL', $w[0];           # the master starts another worker
});
ok(wait_count($before + $got - 4), 'ingested after a worker was killed');
sleep 1.5;
($dups, $count) = no_dups();
# a call answered in the instant before the kill, before its log phase,
# has no record: at most one per client connection
cmp_ok($count - $before, '>=', $got - 4, "records ($count - $before) for $got answered calls");
cmp_ok($count - $before, '<=', $got, 'and never more records than calls');
is($dups, 0, 'no duplicate transaction id');

$t->stop;
done_testing;
