#!/usr/bin/perl
# Upstream TLS (SPEC §6): providers are verified against the deployment's
# CA bundle and by name; a provider the bundle does not vouch for, or whose
# certificate names another host, is never called (502 upstream_error).
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use LGSP::Test;
use LGSP::Demo;

my $pki = tempdir('lgsp-pki-XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub ossl { system("openssl @_ >/dev/null 2>&1") == 0 or die "openssl @_" }

# a test CA the gateway trusts, and one it does not
for my $ca (qw(ca rogueca)) {
    ossl("req -x509 -newkey rsa:2048 -nodes -keyout $pki/$ca.key -out $pki/$ca.pem -days 2 -subj /CN=$ca");
}
sub leaf {
    my ($name, $ca, $host) = @_;
    open my $fh, '>', "$pki/$name.ext" or die;
    print $fh "subjectAltName=DNS:$host\n";
    close $fh;
    ossl("req -newkey rsa:2048 -nodes -keyout $pki/$name.key -out $pki/$name.csr -subj /CN=$host");
    ossl("x509 -req -in $pki/$name.csr -CA $pki/$ca.pem -CAkey $pki/$ca.key -CAcreateserial"
         . " -out $pki/$name.pem -days 1 -extfile $pki/$name.ext");
}
leaf('good', 'ca', 'localhost');
leaf('rogue', 'rogueca', 'localhost');
leaf('misnamed', 'ca', 'other.example');

my @servers;
sub tls_server {
    my ($name) = @_;
    my $port = LGSP::Test::free_port();
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null'; open STDERR, '>', '/dev/null';
        exec 'openssl', 's_server', '-accept', $port, '-cert', "$pki/$name.pem",
             '-key', "$pki/$name.key", '-www', '-quiet';
    }
    push @servers, $pid;
    return $port;
}

my $t = LGSP::Test->new(workers => 1, ca_bundle => "$pki/ca.pem");
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');

my $v = 1;
for my $case (['good', 200, 'a provider the CA vouches for, by name'],
              ['rogue', 502, 'a provider signed by an unknown CA'],
              ['misnamed', 502, 'a certificate for another host']) {
    my ($name, $status, $what) = @$case;
    my $port = tls_server($name);
    ok($t->wait_until(sub { IO::Socket::INET->new("127.0.0.1:$port") }, 5), "$name server up");
    my $sv = 'tls' . $v++ . '/v1';
    my ($code) = split m{/}, $sv;
    $t->ctl_ok('service', 'add', $code, '--provider', 'prov-sys', '--name', "TLS $name",
               '--upstream', "https://localhost:$port/");
    $t->ctl_ok('service', 'publish', $sv, '--env', 'production');
    $t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', $sv, '--env', 'production');
    my $r = $t->http('GET', "/api/$sv/", headers => { Authorization => "Bearer $tok" });
    is($r->{status}, $status, "$what: $status");
    if ($status == 502) {
        is(eval { decode_json($r->{content})->{error} }, 'upstream_error', "$what: upstream_error");
    } else {
        like($r->{content}, qr/s_server|Ciphers|TLS/i, "$what: the provider's own answer");
    }
}
like($t->slurp($t->error_log), qr/certificate verify failed|does not match/,
     'nginx says why it refused the provider');

# TLS sessions with a provider are resumed: s_server -www answers on a new
# connection each time and says whether the handshake was New or Reused
my @seen = map {
    my $r = $t->http('GET', '/api/tls1/v1/', headers => { Authorization => "Bearer $tok" });
    ($r->{content} =~ /^(New|Reused), /m)[0] // "status $r->{status}";
} 1 .. 3;
is($seen[0] eq 'New' || $seen[0] eq 'Reused' ? 'ok' : $seen[0], 'ok', 'the provider answers over TLS');
is_deeply([@seen[1, 2]], ['Reused', 'Reused'], 'later connections resume the TLS session')
    or diag("handshakes: @seen");

kill 'TERM', @servers;
waitpid $_, 0 for @servers;
$t->stop;
done_testing;
