#!/usr/bin/perl
# The data path keeps serving: with lgspd killed, and across nginx -s reload.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 2);
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');
ok($t->wait_until(sub { $t->http('GET', '/api/citizen/v1/x',
    headers => { Authorization => "Bearer $tok" })->{status} == 200 }, 3), 'serving');

# Requests from a child process for $secs seconds; returns the statuses seen.
sub flow {
    my ($secs, $during) = @_;
    my $out = "$t->{home}/flow.out";
    my $pid = fork // die;
    if ($pid == 0) {
        my $ua = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
        open my $fh, '>', $out or die;
        my $end = time + $secs;
        while (time < $end) {
            my $r = $ua->get($t->url('/api/citizen/v1/flow'),
                             { headers => { Authorization => "Bearer $tok" } });
            print $fh "$r->{status}\n";
        }
        close $fh;
        POSIX::_exit(0);
    }
    sleep $secs / 3;
    $during->();
    waitpid $pid, 0;
    my %n;
    $n{$_}++ for split /\n/, $t->slurp($out);
    return \%n;
}

my $n = flow(3, sub { $t->stop_lgspd('KILL') });
ok(($n->{200} // 0) > 50, "requests flowed while lgspd was killed (" . ($n->{200} // 0) . ")");
is(join(',', grep { $_ != 200 } sort keys %$n), '', 'no request failed with lgspd killed');
my $s = $t->get_json('/lgsp/status');
ok($s->{generation} > 0, 'the last snapshot keeps serving');
ok(!$s->{ready}, 'not ready without lgspd');
$t->start_lgspd;
ok($t->wait_ready(5), 'ready again with lgspd back');

# nginx -s reload under load: old workers finish what they hold; a client
# may see a closed keepalive connection (599 in HTTP::Tiny, which retries
# idempotent requests itself) but never an error status.
$n = flow(3, sub { $t->reload_nginx });
ok(($n->{200} // 0) > 50, "requests flowed across a reload (" . ($n->{200} // 0) . ")");
is(join(',', grep { $_ != 200 && $_ != 599 } sort keys %$n), '', 'no error status across the reload');
ok($t->wait_ready(5), 'ready after the reload');
my $gen = $t->get_json('/lgsp/status')->{generation};
ok($gen > 0, "new workers serve generation $gen at once");

$t->stop;
done_testing;
