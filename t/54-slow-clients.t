#!/usr/bin/perl
# Slow and big clients (issue 26), against the shipped timeouts of
# conf/lgsp-clients.conf (10 s each): while a few thousand connections sit
# idle, clients drip their headers a byte a second, stall their bodies,
# close them half sent and stop reading answers, the gateway keeps
# answering everyone else; every one of those calls that reached the
# module ends with its audit record, with the status nginx gives it and a
# reason that says the client did not finish.  Those that never finished
# their header never reached the module and have none.
use strict;
use warnings;
use lib 't/lib';
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use LGSP::Test;
use LGSP::Demo;

$SIG{PIPE} = 'IGNORE';      # a drip after the gateway closed: EPIPE, not death

# more than the sockets' buffers between the provider and a client that
# does not read (the kernel's default receive window, nginx's send buffer)
my $BIG = 16 * 1024 * 1024;
my $t = LGSP::Test->new(workers => 2);
my $up = $t->upstream(sub {
    my ($req) = @_;
    return (200, { 'Content-Type' => 'application/octet-stream' }, 'x' x $BIG)
        if $req->{uri} =~ m{/big$};
    return (200, { 'Content-Type' => 'application/json' },
            encode_json({ uri => $req->{uri}, body_length => length $req->{body} }));
});
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');

# the idle connections need a descriptor each, here as in nginx (whose
# workers get worker_rlimit_nofile)
my ($nofile) = `sh -c 'ulimit -n'` =~ /^(\d+)/;
my $IDLE = 2000;
if (defined $nofile && $nofile - 300 < $IDLE) {
    $IDLE = $nofile - 300;
    diag("ulimit -n is $nofile: $IDLE idle connections instead of 2000");
}
my ($DRIP, $STALL, $CUT, $NOAUTH, $READER) = (20, 10, 5, 5, 3);

sub connect_gw {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                                  Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    $s->autoflush(1);
    return $s;
}

# A client: its socket, what it received, and whether the gateway closed.
sub client {
    my ($head, $first) = @_;
    my $s = connect_gw();
    syswrite($s, $first) if defined $first && length $first;
    $s->blocking(0);
    return { s => $s, head => $head, sent => length($first // ''), got => '', closed => 0 };
}

# Take what arrived; a client is closed at EOF or a reset.
sub poll_client {
    my ($c) = @_;
    return if $c->{closed};
    while (1) {
        my $n = sysread($c->{s}, my $buf, 65536);
        if (!defined $n) {
            return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $c->{closed} = 1;        # ECONNRESET: reset_timedout_connection
            return;
        }
        if ($n == 0) {
            $c->{closed} = 1;
            return;
        }
        $c->{got} .= $buf;
    }
}

sub post_head {
    my ($id, %o) = @_;
    return "POST /api/citizen/v1/upload HTTP/1.1\r\nHost: gw\r\n"
         . ($o{auth} // 1 ? "Authorization: Bearer $tok\r\n" : '')
         . "X-LGSP-Request-Id: $id\r\nContent-Type: application/json\r\n"
         . "Content-Length: 1000\r\n\r\n" . '{"a":"';
}

# --- the crowd ----------------------------------------------------------
my @idle = map { client('', '') } 1 .. $IDLE;
# a header one byte a second: it would take minutes to end
my @drip = map {
    client("GET /api/citizen/v1/drip/$_ HTTP/1.1\r\nHost: gw\r\n"
           . "Authorization: Bearer $tok\r\nX-LGSP-Request-Id: drip-$_\r\n\r\n", '')
} 1 .. $DRIP;
# a body promised 1000 bytes, 6 sent, then nothing
my @stall = map { my $h = post_head("stall-$_"); client($h, $h) } 1 .. $STALL;
# the same without a token: the module answers before nginx reads a body
my @noauth = map { my $h = post_head("noauth-$_", auth => 0); client($h, $h) } 1 .. $NOAUTH;
# half a body, then the client goes away
for my $i (1 .. $CUT) {
    my $s = connect_gw();
    syswrite($s, post_head("cut-$i"));
    close $s;
}
# asks for a big answer and never reads it
my @reader = map {
    my $h = "GET /api/citizen/v1/big HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer $tok\r\n"
          . "X-LGSP-Request-Id: reader-$_\r\n\r\n";
    my $s = connect_gw();
    syswrite($s, $h);
    $s;
} 1 .. $READER;

sub still_open { return scalar grep { !$_->{closed} } @_ }

# --- everyone else is answered while they hang -------------------------
my (%normal, $during);
my $start = time;
my $next_drip = $start;
while (time - $start < 40) {
    if (time >= $next_drip) {
        for my $c (grep { !$_->{closed} && $_->{sent} < length $_->{head} } @drip) {
            my $n = syswrite($c->{s}, substr($c->{head}, $c->{sent}, 1));
            $c->{sent} += $n if $n;
        }
        $next_drip += 1;
    }
    poll_client($_) for @idle, @drip, @stall, @noauth;
    if (!$during && time - $start >= 1) {
        $during = { idle => still_open(@idle), drip => still_open(@drip),
                    stall => still_open(@stall) };
        for my $i (1 .. 5) {
            my $r = $t->http('GET', "/api/citizen/v1/ok/$i", headers => {
                Authorization => "Bearer $tok", 'X-LGSP-Request-Id' => "normal-$i" });
            $normal{"normal-$i"} = $r->{status};
        }
        my $r = $t->http('POST', '/api/citizen/v1/upload', content => '{"a":1}', headers => {
            Authorization => "Bearer $tok", 'X-LGSP-Request-Id' => 'normal-post',
            'Content-Type' => 'application/json' });
        $normal{'normal-post'} = $r->{status};
        $normal{status} = ($t->get_json('/lgsp/status') // {})->{ready} ? 200 : 0;
        $normal{token} = $t->http('POST', '/oauth/token', headers => {
            'Content-Type' => 'application/x-www-form-urlencoded' },
            content => "grant_type=client_credentials&client_id=$d->{cred}{production}{client_id}"
                     . "&client_secret=$d->{cred}{production}{client_secret}")->{status};
    }
    last if $during && !still_open(@idle, @drip, @stall)
         && !grep { $_->{got} !~ /\r\n\r\n/ } @noauth;
    sleep 0.2;
}
is_deeply($during, { idle => $IDLE, drip => $DRIP, stall => $STALL },
          "while $IDLE idle connections, $DRIP header drips and $STALL stalled bodies hang");
is_deeply(\%normal, { (map { ("normal-$_" => 200) } 1 .. 5), 'normal-post' => 200,
                      status => 200, token => 200 },
          '  calls, a body, the status page and a token are answered');

# --- the slow ones end, each as it should ------------------------------
is(still_open(@idle), 0, 'the gateway closed every idle connection');
is(still_open(@drip), 0, 'and every header drip');
is(scalar(grep { $_->{got} ne '' } @idle, @drip), 0, '  without an answer (no call began)');
is(still_open(@stall), 0, 'and every stalled body');
is(scalar(grep { $_->{got} ne '' } @stall), 0, '  without an answer (nginx sends no 408)');
is(scalar(grep { $_->{got} =~ m{^HTTP/1\.1 401 } } @noauth), $NOAUTH,
   'a body without a token is refused at once, unread (401)');

my %want = (
    (map { ("normal-$_" => [200, '', '00']) } 1 .. 5), 'normal-post' => [200, '', '00'],
    (map { ("stall-$_" => [408, 'client_timeout', '01']) } 1 .. $STALL),
    (map { ("cut-$_" => [400, 'client_closed', '01']) } 1 .. $CUT),
    (map { ("noauth-$_" => [401, 'missing_token', '01']) } 1 .. $NOAUTH),
    # the provider's 200, half delivered: a failure all the same
    (map { ("reader-$_" => [200, 'client_timeout', '01']) } 1 .. $READER),
);
sub records {
    my ($rc, $out) = $t->ctl('audit', 'list', '--json', '--limit', '100000');
    return $rc == 0 ? @{ decode_json($out) } : ();
}
ok($t->wait_until(sub { my @r = records(); @r >= keys %want }, 40), 'the audit records arrive');
my @recs = records();
my %got = map { (($_->{request_id} // '') => [$_->{status}, $_->{reason} // '', $_->{result}]) } @recs;
is_deeply(\%got, \%want, 'one record per call that reached the module, with status, reason, result');
is(scalar @recs, scalar keys %want, '  and none for the connections that never sent a header');
my ($reader) = grep { ($_->{request_id} // '') eq 'reader-1' } @recs;
is($reader->{upstream_status}, 200, 'a reader that stopped: the provider answered');
cmp_ok($reader->{bytes_out}, '<', $BIG, '  and it got part of the answer');

close $_->{s} for @idle, @drip, @stall, @noauth;
close $_ for @reader;
$t->stop;
done_testing;
