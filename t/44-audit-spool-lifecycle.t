#!/usr/bin/perl
# The spool over nginx's process lifecycle (issue 26 item 8): with a cache
# path configured, nginx runs a cache manager and a cache loader, which
# start like workers but serve nothing.  Only the workers take part: they
# alone are in /lgsp/status and run/workers/, no segment exists before the
# first call, reloads and a clean stop without calls leave the spool empty
# (lgspd not draining it), lgspd removes an empty segment unread, and with
# calls every record arrives once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 2, start => 0);
my $h = $t->home;

# a cache path is all it takes for nginx to start both helpers
my $conf = $t->slurp("$h/nginx/nginx.conf");
$conf =~ s#^http \{\n#http {\n    proxy_cache_path $h/nginx/tmp/cache keys_zone=t44:1m;\n#m
    or die 'no http block in nginx.conf';
open my $fh, '>', "$h/nginx/nginx.conf" or die; print $fh $conf; close $fh;

$t->start_lgspd;
$t->start_nginx;
ok($t->wait_ready, 'ready with a cache path configured');

# nginx's children by kind, from their process titles
sub children {
    my %kind;
    my $master = $t->nginx_pid;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my ($pid, $ppid) = (<$s> // '') =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        next unless $ppid == $master;
        my ($title) = $t->slurp("/proc/$pid/cmdline") =~ /^nginx: (.*?) process/ or next;
        push @{ $kind{$title} }, $pid;
    }
    return \%kind;
}

sub workers { return sort { $a <=> $b } @{ children()->{worker} // [] } }
sub listed  { return sort { $a <=> $b } map { $_->{pid} } @{ $t->get_json('/lgsp/status')->{workers} // [] } }
sub spool   { opendir my $d, "$h/spool" or die; return grep { !/^\./ } readdir $d }

# the registry and a token: lgspd's own answers, not calls of the data path
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');

ok($t->wait_until(sub { my $k = children(); $k->{'cache manager'} && $k->{'cache loader'} }, 10),
   'the cache manager and the cache loader run');
ok($t->wait_until(sub { my @w = workers(); @w == 2 }, 10), 'two workers');
is_deeply([listed()], [workers()], '/lgsp/status lists exactly the workers');
my %gen = map { (split ' ', $t->slurp($_))[0] => 1 } glob "$h/run/workers/worker-*.gen";
is_deeply([sort { $a <=> $b } keys %gen], [workers()], 'run/workers/ names only the workers');
is_deeply([spool()], [], 'no spool segment before the first call');

# --- reloads and a clean stop, no calls, nobody draining -------------
$t->stop_lgspd('TERM');
for my $n (1 .. 3) {
    my %old = map { $_ => 1 } workers();
    $t->reload_nginx;
    ok($t->wait_until(sub {
        my @w = workers();
        @w == 2 && !grep { $old{$_} } @w;
    }, 20), "reload $n: new workers");
    ok($t->wait_until(sub { "@{[listed()]}" eq "@{[workers()]}" }, 10),
       "reload $n: /lgsp/status lists exactly the new workers")
        or diag("listed @{[listed()]}, workers @{[workers()]}");
}
is_deeply([spool()], [], 'no segment after three reloads');
$t->stop_nginx;
is_deeply([spool()], [], 'nor after a clean stop');

# --- lgspd removes the empty segments a writer may leave --------------
# (one that died between making a segment and its first commit): a header
# and no record, as lgsp_spool.c writes it
sub empty_segment {
    my ($name, $pid, $sealed) = @_;
    open my $f, '>:raw', "$h/spool/$name" or die "$name: $!";
    print $f pack('a8 V V V V l< V', 'LGSPAUD1', 2, 4096, 72, 8192, $pid, $sealed), "\0" x 8160;
    close $f;
}
my $dead = fork // die;
POSIX::_exit(0) if $dead == 0;
waitpid $dead, 0;
empty_segment("seg.$dead.1.0", $dead, 0);     # unsealed, its owner gone
empty_segment("seg.$$.1.0", $$, 1);           # sealed
empty_segment("seg.$$.1.1", $$, 0);           # its owner may still write
$t->start_lgspd;
ok($t->wait_until(sub { !-e "$h/spool/seg.$dead.1.0" && !-e "$h/spool/seg.$$.1.0" }, 10),
   'lgspd removes empty segments, sealed or of a dead owner');
ok(-e "$h/spool/seg.$$.1.1", '  but not an open one of a live owner');
my $log = $t->slurp("$h/lgspd.out");
like($log, qr/removed empty segment seg\.$dead\.1\.0/, '  and says so');
unlike($log, qr/took over segment seg\.$dead\./, '  with nothing to take over');
unlink "$h/spool/seg.$$.1.1";

# --- with calls: every record arrives once ----------------------------
$t->start_nginx;
ok($t->wait_ready, 'ready again');
my %sent;
sub calls {
    my ($n) = @_;
    for my $i (1 .. $n) {
        # allowed and denied alike have their record
        my %hd = $i % 3 ? (Authorization => "Bearer $tok") : ();
        my $r = $t->http('GET', "/api/citizen/v1/t44/$i", headers => \%hd);
        $sent{ $r->{headers}{'x-lgsp-transaction-id'} // "none$i" } = $r->{status};
    }
}
calls(60);
$t->reload_nginx;
calls(60);
$t->stop_nginx;
is(scalar(grep { /^(200|401)$/ } values %sent), 120, '120 calls answered, 200 or 401');
ok($t->wait_until(sub { !spool() }, 20), 'lgspd drains the spool');
is($t->audit_sql('SELECT count(*) FROM audit_records'), 120, 'one record per call');
is($t->audit_sql('SELECT count(DISTINCT transaction_id) FROM audit_records'), 120,
   'no duplicate transaction id');
my %got = map { split /\|/ } split /\n/, $t->audit_sql('SELECT transaction_id, status FROM audit_records');
is_deeply(\%got, \%sent, 'the records are the calls, each with its status');

$t->stop;
done_testing;
